use sea_orm::entity::prelude::*;
use time::PrimitiveDateTime;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proxyconfigs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub proxy_config_name: String,
    #[sea_orm(save_as = "citext")]
    pub address: String,
    pub info_format: i32,
    pub port: i32,
    pub network_dns_suffix: Option<String>,
    pub creation_date: Option<PrimitiveDateTime>,
    /// Nullable in the reference DDL, though every row the API writes has one.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
