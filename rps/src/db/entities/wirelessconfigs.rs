use sea_orm::entity::prelude::*;
use time::PrimitiveDateTime;

use crate::db::IntArray;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wirelessconfigs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, save_as = "citext")]
    pub wireless_profile_name: String,
    pub authentication_method: Option<i32>,
    pub encryption_method: Option<i32>,
    pub ssid: Option<String>,
    pub psk_value: Option<i32>,
    /// The literal placeholder `PSK_PASSPHRASE`: the passphrase lives at `Wireless/<name>`.
    pub psk_passphrase: Option<String>,
    #[sea_orm(column_type = "custom(\"int[]\")")]
    pub link_policy: IntArray,
    pub creation_date: Option<PrimitiveDateTime>,
    pub created_by: Option<String>,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(save_as = "citext")]
    pub ieee8021x_profile_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
