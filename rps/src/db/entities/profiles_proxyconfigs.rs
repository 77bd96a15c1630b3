use sea_orm::entity::prelude::*;
use time::PrimitiveDateTime;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles_proxyconfigs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub proxy_config_name: String,
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub profile_name: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub priority: i32,
    pub creation_date: Option<PrimitiveDateTime>,
    pub created_by: Option<String>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
