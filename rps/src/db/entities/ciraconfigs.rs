use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ciraconfigs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub cira_config_name: String,
    pub mps_server_address: Option<String>,
    pub mps_port: Option<i32>,
    pub user_name: Option<String>,
    /// Placeholder only when a secret store is configured; the reference never returns it.
    pub password: Option<String>,
    pub common_name: Option<String>,
    pub server_address_format: Option<i32>,
    pub auth_method: Option<i32>,
    pub mps_root_certificate: Option<String>,
    pub proxydetails: Option<String>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
