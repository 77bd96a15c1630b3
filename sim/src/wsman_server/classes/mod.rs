//! The classes the simulated AMT serves, grouped by area. Each area lists its [`ClassDef`]s; instances
//! are built from the device state on demand (nothing large is stored per device).

pub mod general;
pub mod inventory;
pub mod logs;
pub mod network;
pub mod pki;
pub mod power;
pub mod provisioning;
pub mod redirection;
pub mod remote_access;

use wsman::EndpointReference;
use wsman::response::Instance;

use super::dispatch::ClassDef;

const AREAS: &[&[ClassDef]] = &[
    general::CLASSES,
    provisioning::CLASSES,
    inventory::CLASSES,
    power::CLASSES,
    redirection::CLASSES,
    logs::CLASSES,
    network::CLASSES,
    pki::CLASSES,
    remote_access::CLASSES,
];

/// The class definition for a class name.
pub fn lookup(name: &str) -> Option<&'static ClassDef> {
    AREAS
        .iter()
        .flat_map(|area| area.iter())
        .find(|class| class.name == name)
}

/// Names of every class served (for tests and documentation).
pub fn class_names() -> Vec<&'static str> {
    AREAS
        .iter()
        .flat_map(|area| area.iter())
        .map(|class| class.name)
        .collect()
}

/// `SystemName` of AMT's own services.
pub const AMT_SYSTEM: &str = "Intel(r) AMT";
/// `SystemName` of the managed host.
pub const HOST_SYSTEM: &str = "ManagedSystem";

/// A CIM service instance: CreationClassName, ElementName, (extra properties), Name, System*.
pub fn service(
    class: &str,
    element_name: &str,
    name: &str,
    system: &str,
    extra: &[(&str, String)],
) -> Instance {
    let mut instance = Instance::new(class)
        .with("CreationClassName", class)
        .with("ElementName", element_name);
    for (key, value) in extra {
        instance = instance.with(key, value);
    }
    instance
        .with("Name", name)
        .with("SystemCreationClassName", "CIM_ComputerSystem")
        .with("SystemName", system)
}

/// An endpoint reference to `class` with text selectors.
pub fn reference(class: &str, selectors: &[(&str, &str)]) -> EndpointReference {
    EndpointReference::to_class(
        class,
        selectors
            .iter()
            .map(|(n, v)| wsman::Selector::new(*n, *v))
            .collect(),
    )
}

/// The reference to the managed host (`CIM_ComputerSystem` "ManagedSystem").
pub fn managed_system() -> EndpointReference {
    reference(
        "CIM_ComputerSystem",
        &[
            ("CreationClassName", "CIM_ComputerSystem"),
            ("Name", HOST_SYSTEM),
        ],
    )
}

pub fn flag(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}
