use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ieee8021xconfigs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub profile_name: String,
    pub auth_protocol: Option<i32>,
    pub servername: Option<String>,
    pub domain: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub roaming_identity: Option<String>,
    pub active_in_s0: Option<bool>,
    pub pxe_timeout: Option<i32>,
    pub wired_interface: bool,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
