use sea_orm::entity::prelude::*;
use time::PrimitiveDateTime;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "domains")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub name: String,
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub domain_suffix: String,
    /// The literal placeholder `CERT`: the PFX itself lives in the secret store at `certs/<name>`.
    pub provisioning_cert: Option<String>,
    pub provisioning_cert_storage_format: Option<String>,
    /// The literal placeholder `CERT_PASSWORD`.
    pub provisioning_cert_key: Option<String>,
    pub creation_date: Option<PrimitiveDateTime>,
    pub expiration_date: Option<PrimitiveDateTime>,
    pub created_by: Option<String>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
