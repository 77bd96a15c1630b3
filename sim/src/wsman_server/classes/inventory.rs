//! Hardware inventory (the classes behind MPS `/amt/hardwareInfo`): an Intel NUC-class desktop with
//! per-device serial numbers derived from the GUID. Built on each request; nothing is stored.

use wsman::response::{Instance, Prop};

use super::{HOST_SYSTEM, managed_system, reference};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::ClassDef;

pub const CLASSES: &[ClassDef] = &[
    ClassDef::read_only("CIM_ComputerSystemPackage", computer_system_package),
    ClassDef::read_only("CIM_SystemPackaging", computer_system_package),
    ClassDef::read_only("CIM_Chassis", chassis),
    ClassDef::read_only("CIM_Chip", chip),
    ClassDef::read_only("CIM_Card", card),
    ClassDef::read_only("CIM_BIOSElement", bios),
    ClassDef::read_only("CIM_Processor", processor),
    ClassDef::read_only("CIM_PhysicalMemory", memory),
    ClassDef::read_only("CIM_MediaAccessDevice", media),
    ClassDef::read_only("CIM_PhysicalPackage", physical_package),
];

/// A 12-character serial number unique to the device and the part.
fn serial(id: &Identity, part: &str, len: usize) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("{part}:{}", id.guid).as_bytes());
    let mut out = String::from(part);
    out.push_str(&hex::encode_upper(digest));
    out.truncate(len);
    out
}

fn computer_system_package(id: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("CIM_ComputerSystemPackage")
            .with_prop(
                "Antecedent",
                Prop::Reference(reference(
                    "CIM_Chassis",
                    &[("CreationClassName", "CIM_Chassis"), ("Tag", "CIM_Chassis")],
                )),
            )
            .with_prop("Dependent", Prop::Reference(managed_system()))
            .with("PlatformGUID", hex::encode_upper(id.uuid_bytes())),
    ]
}

fn chassis_instance(id: &Identity) -> Instance {
    Instance::new("CIM_Chassis")
        .with("ChassisPackageType", 0)
        .with("CreationClassName", "CIM_Chassis")
        .with("ElementName", "Managed System Chassis")
        .with("Manufacturer", "Intel(R) Client Systems")
        .with("Model", "NUC9V7QNX")
        .with("OperationalStatus", 0)
        .with("PackageType", 3)
        .with("SerialNumber", serial(id, "JRQN", 12))
        .with("Tag", "CIM_Chassis")
        .with("Version", "K47174-402")
}

fn chassis(id: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![chassis_instance(id)]
}

fn chip(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("CIM_Chip")
            .with("CanBeFRUed", "true")
            .with("CreationClassName", "CIM_Chip")
            .with("ElementName", "Managed System Processor Chip")
            .with("Manufacturer", "Intel(R) Corporation")
            .with("OperationalStatus", 0)
            .with("Tag", "CPU 0")
            .with("Version", "Intel(R) Core(TM) i7-9850H CPU @ 2.60GHz"),
    ]
}

fn card_instance(id: &Identity) -> Instance {
    Instance::new("CIM_Card")
        .with("CanBeFRUed", "true")
        .with("CreationClassName", "CIM_Card")
        .with("ElementName", "Managed System Base Board")
        .with("Manufacturer", "Intel Corporation")
        .with("Model", "NUC9V7QNB")
        .with("OperationalStatus", 0)
        .with("PackageType", 9)
        .with("SerialNumber", serial(id, "KNQN", 12))
        .with("Tag", "CIM_Card")
        .with("Version", "K47180-402")
}

fn card(id: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![card_instance(id)]
}

fn bios(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("CIM_BIOSElement")
            .with("ElementName", "Primary BIOS")
            .with("Manufacturer", "Intel Corp.")
            .with("Name", "Primary BIOS")
            .with("OperationalStatus", 0)
            .with("PrimaryBIOS", "true")
            .with_prop("ReleaseDate", Prop::Datetime("2020-08-10T00:00:00Z".into()))
            .with("SoftwareElementID", "QNCFLX70.0054.2020.0810.2227")
            .with("SoftwareElementState", 2)
            .with("TargetOperatingSystem", 66)
            .with("Version", "QNCFLX70.0054.2020.0810.2227"),
    ]
}

fn processor(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let running = state.power_state == crate::device::platform::power_state::ON;
    vec![
        Instance::new("CIM_Processor")
            .with("CPUStatus", if running { 1 } else { 0 })
            .with("CreationClassName", "CIM_Processor")
            .with("CurrentClockSpeed", 2600)
            .with("DeviceID", "CPU 0")
            .with("ElementName", "Managed System CPU")
            .with("EnabledState", if running { 2 } else { 3 })
            .with("ExternalBusClockSpeed", 100)
            .with("Family", 198)
            .with("HealthState", 0)
            .with("MaxClockSpeed", 8300)
            .with("OperationalStatus", 0)
            .with("OtherFamilyDescription", "")
            .with("RequestedState", 12)
            .with("Role", "Central")
            .with("Stepping", 13)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", HOST_SYSTEM)
            .with("UpgradeMethod", 52),
    ]
}

fn memory(id: &Identity, _: &DeviceState) -> Vec<Instance> {
    [("BANK 0", "9876543210"), ("BANK 2", "9876543210 (#1)")]
        .into_iter()
        .enumerate()
        .map(|(slot, (bank, tag))| {
            Instance::new("CIM_PhysicalMemory")
                .with("BankLabel", bank)
                .with("Capacity", 17_179_869_184u64)
                .with("ConfiguredMemoryClockSpeed", 2400)
                .with("CreationClassName", "CIM_PhysicalMemory")
                .with("ElementName", "Managed System Memory Chip")
                .with("FormFactor", 13)
                .with("IsSpeedInMhz", "true")
                .with("Manufacturer", "859B")
                .with("MaxMemorySpeed", 2400)
                .with("MemoryType", 26)
                .with("PartNumber", "CT16G4SFD824A.M16FE ")
                .with("SerialNumber", serial(id, &format!("E{slot}"), 8))
                .with("Speed", 0)
                .with("Tag", tag)
        })
        .collect()
}

fn media(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    [
        ("MEDIA DEV 0", 960_197_124u64),
        ("MEDIA DEV 1", 500_107_862u64),
    ]
    .into_iter()
    .map(|(device, size)| {
        Instance::new("CIM_MediaAccessDevice")
            .with("Capabilities", 4)
            .with("CreationClassName", "CIM_MediaAccessDevice")
            .with("DeviceID", device)
            .with("ElementName", "Managed System Media Access Device")
            .with("EnabledDefault", 2)
            .with("EnabledState", 0)
            .with("MaxMediaSize", size)
            .with("OperationalStatus", 0)
            .with("RequestedState", 12)
            .with("Security", 2)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", HOST_SYSTEM)
    })
    .collect()
}

fn physical_package(id: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![card_instance(id), chassis_instance(id)]
}
