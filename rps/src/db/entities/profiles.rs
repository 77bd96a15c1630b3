use sea_orm::entity::prelude::*;
use time::PrimitiveDateTime;

use crate::db::TextArray;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub profile_name: String,
    pub activation: String,
    /// The literal placeholder `AMT_PASSWORD`, or NULL when a random password is generated per device.
    pub amt_password: Option<String>,
    pub generate_random_password: bool,
    #[sea_orm(save_as = "citext")]
    pub cira_config_name: Option<String>,
    pub creation_date: Option<PrimitiveDateTime>,
    pub created_by: Option<String>,
    /// The literal placeholder `MEBX_PASSWORD`, or NULL.
    pub mebx_password: Option<String>,
    pub generate_random_mebx_password: bool,
    #[sea_orm(column_type = "custom(\"text[]\")")]
    pub tags: TextArray,
    pub dhcp_enabled: Option<bool>,
    pub ip_sync_enabled: Option<bool>,
    pub local_wifi_sync_enabled: Option<bool>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub tls_mode: Option<i32>,
    pub user_consent: Option<String>,
    pub ider_enabled: Option<bool>,
    pub kvm_enabled: Option<bool>,
    pub sol_enabled: Option<bool>,
    pub tls_signing_authority: Option<String>,
    #[sea_orm(save_as = "citext")]
    pub ieee8021x_profile_name: Option<String>,
    pub uefi_wifi_sync_enabled: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
