// Generates WS-Man requests with the reference message library
// (@device-management-toolkit/wsman-messages) for every class and method it offers, as JSON steps.
//
// Usage: node reference_requests.js <repo root> <params JSON>
// Output: [{ "device", "auth", "name", "xml", "expect" }, ...] on stdout.
//   device: which simulated device the step targets ("main", "pre", "ccm")
//   auth:   "lsa" (local system account) or "admin"
//   expect: { "element": <Body child expected> } or { "fault": <subcode local name> }
// Pull requests carry the placeholder __CONTEXT__ for the context of the preceding Enumerate.
'use strict'

const path = require('path')
const [root, paramsJson] = process.argv.slice(2)
const lib = require(path.join(root, 'tests/node/node_modules/@device-management-toolkit/wsman-messages'))
const p = JSON.parse(paramsJson)

const amt = new lib.AMT.Messages()
const cim = new lib.CIM.Messages()
const ips = new lib.IPS.Messages()
const steps = []

function step (device, auth, name, xml, expect) {
  steps.push({ device, auth, name, xml, expect })
}
const element = (e) => ({ element: e })
const fault = (f) => ({ fault: f })

// Get / Enumerate / Pull of a class; `get` = selector for Get (or null), `getExpect` when Get faults.
function basics (device, auth, ns, key, className, get, getExpect) {
  const o = ns[key]
  const prefix = `${className}`
  step(device, auth, `${prefix}.Get`, o.Get(get || undefined), getExpect || element(className))
  step(device, auth, `${prefix}.Enumerate`, o.Enumerate(), element('EnumerateResponse'))
  step(device, auth, `${prefix}.Pull`, o.Pull('__CONTEXT__'), element('PullResponse'))
}

const epr = (resourceUri, name, value) => ({
  Address: 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous',
  ReferenceParameters: { ResourceURI: resourceUri, SelectorSet: { Selector: [{ _: value, $: { Name: name } }] } }
})
const AMT_URI = 'http://intel.com/wbem/wscim/1/amt-schema/1/'
const CIM_URI = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/'
const SAP0 = 'Intel(r) AMT:Management Presence Server 0'

// ---- Activation on a pre-provisioned device: ACM with a provisioning chain ----
basics('pre', 'lsa', ips, 'HostBasedSetupService', 'IPS_HostBasedSetupService', null)
step('pre', 'lsa', 'IPS_HostBasedSetupService.AddNextCertInChain.leaf',
  ips.HostBasedSetupService.AddNextCertInChain(p.leafCert, true, false), element('AddNextCertInChain_OUTPUT'))
step('pre', 'lsa', 'IPS_HostBasedSetupService.AddNextCertInChain.root',
  ips.HostBasedSetupService.AddNextCertInChain(p.rootCert, false, true), element('AddNextCertInChain_OUTPUT'))
step('pre', 'lsa', 'IPS_HostBasedSetupService.AdminSetup',
  ips.HostBasedSetupService.AdminSetup(2, p.preAdminHash, p.mcNonce, 2, p.preSignature),
  { element: 'AdminSetup_OUTPUT', returnValue: 0 })

// ---- CCM Setup, then upgrade to ACM ----
step('ccm', 'lsa', 'IPS_HostBasedSetupService.Setup', ips.HostBasedSetupService.Setup(2, p.ccmAdminHash),
  { element: 'Setup_OUTPUT', returnValue: 0 })
step('ccm', 'admin', 'IPS_HostBasedSetupService.AddNextCertInChain.leaf2',
  ips.HostBasedSetupService.AddNextCertInChain(p.leafCert, true, false), element('AddNextCertInChain_OUTPUT'))
step('ccm', 'admin', 'IPS_HostBasedSetupService.AddNextCertInChain.root2',
  ips.HostBasedSetupService.AddNextCertInChain(p.rootCert, false, true), element('AddNextCertInChain_OUTPUT'))
step('ccm', 'admin', 'IPS_HostBasedSetupService.UpgradeClientToAdmin',
  ips.HostBasedSetupService.UpgradeClientToAdmin(p.mcNonce, 2, p.ccmSignature),
  { element: 'UpgradeClientToAdmin_OUTPUT', returnValue: 0 })

// ---- Everything else on an activated device (CCM, with WiFi hardware) ----
const m = 'main'
const a = 'admin'

basics(m, a, amt, 'AlarmClockService', 'AMT_AlarmClockService', null)
step(m, a, 'AMT_AlarmClockService.AddAlarm', amt.AlarmClockService.AddAlarm({
  InstanceID: 'alarm1', ElementName: 'alarm1', StartTime: new Date('2030-05-01T10:20:30.000Z'), Interval: 90, DeleteOnCompletion: true
}), { element: 'AddAlarm_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AlarmClockService.Put', amt.AlarmClockService.Put({ ElementName: 'Intel(r) AMT Alarm Clock Service' }),
  element('AMT_AlarmClockService'))

basics(m, a, amt, 'AuditLog', 'AMT_AuditLog', null)
step(m, a, 'AMT_AuditLog.ReadRecords', amt.AuditLog.ReadRecords(1), { element: 'ReadRecords_OUTPUT', returnValue: 0 })

basics(m, a, amt, 'AuthorizationService', 'AMT_AuthorizationService', null)
const az = amt.AuthorizationService
step(m, a, 'AMT_AuthorizationService.AddUserAclEntryEx', az.AddUserAclEntryEx(2, [3, 4], 'operator', p.userDigest),
  { element: 'AddUserAclEntryEx_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.EnumerateUserAclEntries', az.EnumerateUserAclEntries(1),
  { element: 'EnumerateUserAclEntries_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.GetAclEnabledState', az.GetAclEnabledState(1),
  { element: 'GetAclEnabledState_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.GetUserAclEntryEx', az.GetUserAclEntryEx(1),
  { element: 'GetUserAclEntryEx_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.UpdateUserAclEntryEx', az.UpdateUserAclEntryEx(1, 2, [5], 'operator', p.userDigest),
  { element: 'UpdateUserAclEntryEx_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.SetAclEnabledState', az.SetAclEnabledState(1, true),
  { element: 'SetAclEnabledState_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.GetAdminAclEntry', az.GetAdminAclEntry(), { element: 'GetAdminAclEntry_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.GetAdminAclEntryStatus', az.GetAdminAclEntryStatus(),
  { element: 'GetAdminAclEntryStatus_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.GetAdminNetAclEntryStatus', az.GetAdminNetAclEntryStatus(),
  { element: 'GetAdminNetAclEntryStatus_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.RemoveUserAclEntry', az.RemoveUserAclEntry(1),
  { element: 'RemoveUserAclEntry_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_AuthorizationService.SetAdminACLEntryEx', az.SetAdminACLEntryEx('admin', p.mainAdminDigest),
  { element: 'SetAdminAclEntryEx_OUTPUT', returnValue: 0 })

basics(m, a, amt, 'BootCapabilities', 'AMT_BootCapabilities', null)
basics(m, a, amt, 'BootSettingData', 'AMT_BootSettingData', null)
step(m, a, 'AMT_BootSettingData.Put', amt.BootSettingData.Put({
  BIOSPause: false, BIOSSetup: false, BootMediaIndex: 0, ConfigurationDataReset: false, ElementName: 'Intel(r) AMT Boot Configuration Settings',
  EnforceSecureBoot: false, FirmwareVerbosity: 0, ForcedProgressEvents: false, IDERBootDevice: 0, InstanceID: 'Intel(r) AMT:BootSettingData 0',
  LockKeyboard: false, LockPowerButton: false, LockResetButton: false, LockSleepButton: false, ReflashBIOS: false, UseIDER: false,
  UseSOL: true, UseSafeMode: false, UserPasswordBypass: false, SecureErase: false
}), element('AMT_BootSettingData'))

basics(m, a, amt, 'EnvironmentDetectionSettingData', 'AMT_EnvironmentDetectionSettingData', null)
step(m, a, 'AMT_EnvironmentDetectionSettingData.Put', amt.EnvironmentDetectionSettingData.Put({
  DetectionAlgorithm: 0, DetectionStrings: ['intranet.example.com', 'corp.example.com'], ElementName: 'Intel(r) AMT Environment Detection Settings',
  InstanceID: 'Intel(r) AMT Environment Detection Settings'
}), element('AMT_EnvironmentDetectionSettingData'))

basics(m, a, amt, 'EthernetPortSettings', 'AMT_EthernetPortSettings', { name: 'InstanceID', value: 'Intel(r) AMT Ethernet Port Settings 0' })
step(m, a, 'AMT_EthernetPortSettings.Put', amt.EthernetPortSettings.Put({
  DHCPEnabled: true, ElementName: 'Intel(r) AMT Ethernet Port Settings', InstanceID: 'Intel(r) AMT Ethernet Port Settings 0',
  IpSyncEnabled: true, SharedStaticIp: false
}), element('AMT_EthernetPortSettings'))
step(m, a, 'AMT_EthernetPortSettings.SetLinkPreference', amt.EthernetPortSettings.SetLinkPreference(1, 300),
  { element: 'SetLinkPreference_OUTPUT', returnValue: 0 })

basics(m, a, amt, 'GeneralSettings', 'AMT_GeneralSettings', null)
step(m, a, 'AMT_GeneralSettings.Put', amt.GeneralSettings.Put({
  AMTNetworkEnabled: 1, DDNSPeriodicUpdateInterval: 1440, DDNSTTL: 900, DDNSUpdateByDHCPServerEnabled: true, DDNSUpdateEnabled: false,
  ElementName: 'Intel(r) AMT: General Settings', HostName: 'renamed-by-library', InstanceID: 'Intel(r) AMT: General Settings',
  PingResponseEnabled: true, RmcpPingResponseEnabled: true, SharedFQDN: true
}), element('AMT_GeneralSettings'))

basics(m, a, amt, 'IEEE8021xCredentialContext', 'AMT_8021xCredentialContext', null, fault('InvalidSelectors'))
basics(m, a, amt, 'IEEE8021xProfile', 'AMT_8021XProfile', null)
step(m, a, 'AMT_8021XProfile.Put', amt.IEEE8021xProfile.Put({
  ActiveInS0: true, ElementName: 'Intel(r) AMT 802.1x Profile', Enabled: false, InstanceID: 'Intel(r) AMT 802.1x Profile 0', PxeTimeout: 0
}), element('AMT_8021XProfile'))

basics(m, a, amt, 'KerberosSettingData', 'AMT_KerberosSettingData', null)
step(m, a, 'AMT_KerberosSettingData.GetCredentialCacheState', amt.KerberosSettingData.GetCredentialCacheState(),
  { element: 'GetCredentialCacheState_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_KerberosSettingData.SetCredentialCacheState', amt.KerberosSettingData.SetCredentialCacheState(false),
  element('SetCredentialCacheState_OUTPUT'))

basics(m, a, amt, 'MessageLog', 'AMT_MessageLog', null)
step(m, a, 'AMT_MessageLog.PositionToFirstRecord', amt.MessageLog.PositionToFirstRecord(),
  { element: 'PositionToFirstRecord_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_MessageLog.GetRecords', amt.MessageLog.GetRecords(1), { element: 'GetRecords_OUTPUT', returnValue: 0 })

// Certificates and keys (handles: root 0, leaf 1; added key 0, generated key 1).
basics(m, a, amt, 'PublicKeyManagementService', 'AMT_PublicKeyManagementService', null)
const pk = amt.PublicKeyManagementService
step(m, a, 'AMT_PublicKeyManagementService.AddTrustedRootCertificate', pk.AddTrustedRootCertificate({ CertificateBlob: p.rootCert }),
  { element: 'AddTrustedRootCertificate_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_PublicKeyManagementService.AddKey', pk.AddKey(p.keyBlob), { element: 'AddKey_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_PublicKeyManagementService.AddCertificate', pk.AddCertificate({ CertificateBlob: p.keyCert }),
  { element: 'AddCertificate_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_PublicKeyManagementService.GenerateKeyPair', pk.GenerateKeyPair({ KeyAlgorithm: 0, KeyLength: 2048 }),
  { element: 'GenerateKeyPair_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_PublicKeyManagementService.GeneratePKCS10RequestEx', pk.GeneratePKCS10RequestEx({
  KeyPair: epr(AMT_URI + 'AMT_PublicPrivateKeyPair', 'InstanceID', 'Intel(r) AMT Key: Handle: 0'),
  SigningAlgorithm: 1,
  NullSignedCertificateRequest: p.csr
}), { element: 'GeneratePKCS10RequestEx_OUTPUT', returnValue: 0 })
basics(m, a, amt, 'PublicKeyCertificate', 'AMT_PublicKeyCertificate', { name: 'InstanceID', value: 'Intel(r) AMT Certificate: Handle: 0' })
step(m, a, 'AMT_PublicKeyCertificate.Put', amt.PublicKeyCertificate.Put({
  ElementName: 'Intel(r) AMT Certificate', InstanceID: 'Intel(r) AMT Certificate: Handle: 0', TrustedRootCertficate: true
}), element('AMT_PublicKeyCertificate'))
basics(m, a, amt, 'PublicPrivateKeyPair', 'AMT_PublicPrivateKeyPair', { name: 'InstanceID', value: 'Intel(r) AMT Key: Handle: 1' })

// TLS: bind the certificate that has a key, enable, disable, unbind.
step(m, a, 'AMT_TLSCredentialContext.Create', amt.TLSCredentialContext.Create('Intel(r) AMT Certificate: Handle: 1'),
  element('ResourceCreated'))
basics(m, a, amt, 'TLSCredentialContext', 'AMT_TLSCredentialContext', null)
basics(m, a, amt, 'TLSSettingData', 'AMT_TLSSettingData', { name: 'InstanceID', value: 'Intel(r) AMT 802.3 TLS Settings' })
const tls = (enabled) => ({
  AcceptNonSecureConnections: true, ElementName: 'Intel(r) AMT 802.3 TLS Settings', Enabled: enabled,
  InstanceID: 'Intel(r) AMT 802.3 TLS Settings', MutualAuthentication: false
})
step(m, a, 'AMT_TLSSettingData.Put.enable', amt.TLSSettingData.Put(tls(true)), element('AMT_TLSSettingData'))
step(m, a, 'AMT_TLSSettingData.Put.disable', amt.TLSSettingData.Put(tls(false)), element('AMT_TLSSettingData'))
step(m, a, 'AMT_TLSCredentialContext.Delete', amt.TLSCredentialContext.Delete({ name: 'InstanceID', value: 'unused' }),
  element(''))

// CIRA: server, policies, bindings, user-initiated connections.
basics(m, a, amt, 'RemoteAccessService', 'AMT_RemoteAccessService', null)
step(m, a, 'AMT_RemoteAccessService.AddMPS', amt.RemoteAccessService.AddMPS({
  AccessInfo: 'mps.example.com', InfoFormat: 201, Port: 4433, AuthMethod: 2, Username: 'ciraUser', Password: 'Cira-P@ss1', CommonName: 'mps.example.com'
}), { element: 'AddMpServer_OUTPUT', returnValue: 0 })
for (const [trigger, life] of [[2, 0], [0, 300]]) {
  step(m, a, `AMT_RemoteAccessService.AddRemoteAccessPolicyRule.${trigger}`, amt.RemoteAccessService.AddRemoteAccessPolicyRule(
    { Trigger: trigger, TunnelLifeTime: life, ExtendedData: trigger === 2 ? 'AAAAAAAAABk=' : '' }, { name: 'Name', value: SAP0 }),
  { element: 'AddRemoteAccessPolicyRule_OUTPUT', returnValue: 0 })
}
basics(m, a, amt, 'ManagementPresenceRemoteSAP', 'AMT_ManagementPresenceRemoteSAP', { name: 'Name', value: SAP0 })
basics(m, a, amt, 'RemoteAccessPolicyRule', 'AMT_RemoteAccessPolicyRule', { name: 'PolicyRuleName', value: 'Periodic' })
step(m, a, 'AMT_RemoteAccessPolicyRule.Put', amt.RemoteAccessPolicyRule.Put({
  CreationClassName: 'AMT_RemoteAccessPolicyRule', ElementName: 'Intel(r) AMT:Remote Access Policy', ExtendedData: 'AAAAAAAAAB4=',
  PolicyRuleName: 'Periodic', SystemCreationClassName: 'CIM_ComputerSystem', SystemName: 'Intel(r) AMT', Trigger: 2, TunnelLifeTime: 0
}), element('AMT_RemoteAccessPolicyRule'))
basics(m, a, amt, 'RemoteAccessPolicyAppliesToMPS', 'AMT_RemoteAccessPolicyAppliesToMPS', null)
const binding = (rule) => ({
  ManagedElement: epr(AMT_URI + 'AMT_ManagementPresenceRemoteSAP', 'Name', SAP0),
  MpsType: 2,
  OrderOfAccess: 0,
  PolicySet: epr(AMT_URI + 'AMT_RemoteAccessPolicyRule', 'PolicyRuleName', rule)
})
step(m, a, 'AMT_RemoteAccessPolicyAppliesToMPS.Put', amt.RemoteAccessPolicyAppliesToMPS.Put(binding('Periodic')),
  element('AMT_RemoteAccessPolicyAppliesToMPS'))
const bindingSelector = (rule) => ({
  ManagedElement: { Address: '/wsman', ReferenceParameters: { ResourceURI: AMT_URI + 'AMT_ManagementPresenceRemoteSAP', SelectorSet: { Selector: { $: { Name: 'Name' }, _: SAP0 } } } },
  PolicySet: { Address: '/wsman', ReferenceParameters: { ResourceURI: AMT_URI + 'AMT_RemoteAccessPolicyRule', SelectorSet: { Selector: { $: { Name: 'PolicyRuleName' }, _: rule } } } }
})
step(m, a, 'AMT_RemoteAccessPolicyAppliesToMPS.Delete', amt.RemoteAccessPolicyAppliesToMPS.Delete(bindingSelector('User Initiated')), element(''))
step(m, a, 'AMT_RemoteAccessPolicyAppliesToMPS.Create', amt.RemoteAccessPolicyAppliesToMPS.Create(binding('User Initiated')),
  element('ResourceCreated'))
basics(m, a, amt, 'UserInitiatedConnectionService', 'AMT_UserInitiatedConnectionService', null)
step(m, a, 'AMT_UserInitiatedConnectionService.RequestStateChange', amt.UserInitiatedConnectionService.RequestStateChange(32771),
  { element: 'RequestStateChange_OUTPUT', returnValue: 0 })
basics(m, a, amt, 'MPSUsernamePassword', 'AMT_MPSUsernamePassword', null)
step(m, a, 'AMT_MPSUsernamePassword.Put', amt.MPSUsernamePassword.Put({
  InstanceID: 'Intel(r) AMT:MPS Username Password 0', RemoteID: 'ciraUser', Secret: 'Cira-P@ss1'
}), element('AMT_MPSUsernamePassword'))

basics(m, a, amt, 'RedirectionService', 'AMT_RedirectionService', null)
step(m, a, 'AMT_RedirectionService.RequestStateChange', amt.RedirectionService.RequestStateChange(32771),
  { element: 'RequestStateChange_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_RedirectionService.Put', amt.RedirectionService.Put({
  CreationClassName: 'AMT_RedirectionService', ElementName: 'Intel(r) AMT Redirection Service', EnabledState: 32771, ListenerEnabled: true,
  Name: 'Intel(r) AMT Redirection Service', SystemCreationClassName: 'CIM_ComputerSystem', SystemName: 'Intel(r) AMT'
}), element('AMT_RedirectionService'))

basics(m, a, amt, 'TimeSynchronizationService', 'AMT_TimeSynchronizationService', null)
step(m, a, 'AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch', amt.TimeSynchronizationService.GetLowAccuracyTimeSynch(),
  { element: 'GetLowAccuracyTimeSynch_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch', amt.TimeSynchronizationService.SetHighAccuracyTimeSynch(p.now, p.now, p.now),
  { element: 'SetHighAccuracyTimeSynch_OUTPUT', returnValue: 0 })

basics(m, a, amt, 'WiFiPortConfigurationService', 'AMT_WiFiPortConfigurationService', null)
step(m, a, 'AMT_WiFiPortConfigurationService.Put', amt.WiFiPortConfigurationService.Put({
  CreationClassName: 'AMT_WiFiPortConfigurationService', ElementName: 'Intel(r) AMT WiFiPort Configuration Service', EnabledState: 5,
  Name: 'Intel(r) AMT WiFi Port Configuration Service', SystemCreationClassName: 'CIM_ComputerSystem', SystemName: 'Intel(r) AMT',
  localProfileSynchronizationEnabled: 1
}), element('AMT_WiFiPortConfigurationService'))
step(m, a, 'AMT_WiFiPortConfigurationService.AddWiFiSettings', amt.WiFiPortConfigurationService.AddWiFiSettings({
  ElementName: 'home', InstanceID: 'Intel(r) AMT:WiFi Endpoint Settings home', SSID: 'home-net', Priority: 1,
  AuthenticationMethod: 6, EncryptionMethod: 4, PSKPassPhrase: 'P&ss<word>"1\''
}, { name: 'InstanceID', value: 'WiFi Endpoint 0' }), { element: 'AddWiFiSettings_OUTPUT', returnValue: 0 })

// CIM
for (const [key, className] of [
  ['BIOSElement', 'CIM_BIOSElement'], ['BootSourceSetting', 'CIM_BootSourceSetting'], ['Card', 'CIM_Card'], ['Chassis', 'CIM_Chassis'],
  ['Chip', 'CIM_Chip'], ['ComputerSystemPackage', 'CIM_ComputerSystemPackage'], ['MediaAccessDevice', 'CIM_MediaAccessDevice'],
  ['PhysicalMemory', 'CIM_PhysicalMemory'], ['Processor', 'CIM_Processor'],
  ['SoftwareIdentity', 'CIM_SoftwareIdentity'], ['ConcreteDependency', 'CIM_ConcreteDependency']
]) {
  basics(m, a, cim, key, className, null)
}
// Association and abstract classes answer with the instance's own class.
basics(m, a, cim, 'PhysicalPackage', 'CIM_PhysicalPackage', null, element('CIM_Card'))
basics(m, a, cim, 'ServiceAvailableToElement', 'CIM_ServiceAvailableToElement', null, element('CIM_AssociatedPowerManagementService'))
basics(m, a, cim, 'SystemPackaging', 'CIM_SystemPackaging', null, element('CIM_ComputerSystemPackage'))
basics(m, a, cim, 'CredentialContext', 'CIM_CredentialContext', null, fault('InvalidSelectors'))
basics(m, a, cim, 'IEEE8021xSettings', 'CIM_IEEE8021xSettings', null, fault('InvalidSelectors'))
basics(m, a, cim, 'BootConfigSetting', 'CIM_BootConfigSetting', null)
step(m, a, 'CIM_BootConfigSetting.ChangeBootOrder.pxe', cim.BootConfigSetting.ChangeBootOrder('Intel(r) AMT: Force PXE Boot'),
  { element: 'ChangeBootOrder_OUTPUT', returnValue: 0 })
step(m, a, 'CIM_BootConfigSetting.ChangeBootOrder.clear', cim.BootConfigSetting.ChangeBootOrder(),
  { element: 'ChangeBootOrder_OUTPUT', returnValue: 0 })
basics(m, a, cim, 'BootService', 'CIM_BootService', null)
step(m, a, 'CIM_BootService.SetBootConfigRole', cim.BootService.SetBootConfigRole('Intel(r) AMT: Boot Configuration 0', 1),
  { element: 'SetBootConfigRole_OUTPUT', returnValue: 0 })
step(m, a, 'CIM_BootService.RequestStateChange', cim.BootService.RequestStateChange(32769),
  { element: 'RequestStateChange_OUTPUT', returnValue: 0 })
basics(m, a, cim, 'KVMRedirectionSAP', 'CIM_KVMRedirectionSAP', null)
step(m, a, 'CIM_KVMRedirectionSAP.RequestStateChange', cim.KVMRedirectionSAP.RequestStateChange(2),
  { element: 'RequestStateChange_OUTPUT', returnValue: 0 })
basics(m, a, cim, 'PowerManagementService', 'CIM_PowerManagementService', null)
step(m, a, 'CIM_PowerManagementService.RequestPowerStateChange.off', cim.PowerManagementService.RequestPowerStateChange(8),
  { element: 'RequestPowerStateChange_OUTPUT', returnValue: 0 })
step(m, a, 'CIM_PowerManagementService.RequestPowerStateChange.on', cim.PowerManagementService.RequestPowerStateChange(2),
  { element: 'RequestPowerStateChange_OUTPUT', returnValue: 0 })
basics(m, a, cim, 'WiFiPort', 'CIM_WiFiPort', null)
step(m, a, 'CIM_WiFiPort.RequestStateChange', cim.WiFiPort.RequestStateChange(32769), { element: 'RequestStateChange_OUTPUT', returnValue: 0 })
basics(m, a, cim, 'WiFiEndpointSettings', 'CIM_WiFiEndpointSettings', null)
step(m, a, 'CIM_WiFiEndpointSettings.Delete', cim.WiFiEndpointSettings.Delete({ name: 'InstanceID', value: 'Intel(r) AMT:WiFi Endpoint Settings home' }),
  element(''))

// IPS
basics(m, a, ips, 'IEEE8021xCredentialContext', 'IPS_8021xCredentialContext', null, fault('InvalidSelectors'))
basics(m, a, ips, 'AlarmClockOccurrence', 'IPS_AlarmClockOccurrence', { name: 'InstanceID', value: 'alarm1' })
step(m, a, 'IPS_AlarmClockOccurrence.Delete', ips.AlarmClockOccurrence.Delete({ name: 'InstanceID', value: 'alarm1' }), element(''))
basics(m, a, ips, 'HostBasedSetupService', 'IPS_HostBasedSetupService', null)
basics(m, a, ips, 'IEEE8021xSettings', 'IPS_IEEE8021xSettings', null)
step(m, a, 'IPS_IEEE8021xSettings.Put', ips.IEEE8021xSettings.Put({
  AvailableInS0: true, ElementName: 'Intel(r) AMT: 8021X Settings', Enabled: 3, InstanceID: 'Intel(r) AMT: 8021X Settings', PxeTimeout: 120
}), element('IPS_IEEE8021xSettings'))
step(m, a, 'IPS_IEEE8021xSettings.SetCertificates', ips.IEEE8021xSettings.SetCertificates(
  epr(AMT_URI + 'AMT_PublicKeyCertificate', 'InstanceID', 'Intel(r) AMT Certificate: Handle: 0'),
  epr(AMT_URI + 'AMT_PublicKeyCertificate', 'InstanceID', 'Intel(r) AMT Certificate: Handle: 1')
), { element: 'SetCertificates_OUTPUT', returnValue: 0 })
basics(m, a, ips, 'OptInService', 'IPS_OptInService', null)
const opt = ips.OptInService
step(m, a, 'IPS_OptInService.StartOptIn', opt.StartOptIn(), { element: 'StartOptIn_OUTPUT', returnValue: 0 })
step(m, a, 'IPS_OptInService.CancelOptIn', opt.CancelOptIn(), { element: 'CancelOptIn_OUTPUT', returnValue: 0 })
step(m, a, 'IPS_OptInService.StartOptIn.again', opt.StartOptIn(), { element: 'StartOptIn_OUTPUT', returnValue: 0 })
step(m, a, 'IPS_OptInService.SendOptInCode', opt.SendOptInCode(12), element('SendOptInCode_OUTPUT'))
step(m, a, 'IPS_OptInService.Put', opt.Put({
  IPS_OptInService: {
    CanModifyOptInPolicy: 0, CreationClassName: 'IPS_OptInService', ElementName: 'Intel(r) AMT OptIn Service', Name: 'Intel(r) AMT OptIn Service',
    OptInCodeTimeout: 120, OptInDisplayTimeout: 300, OptInRequired: 4294967295, SystemCreationClassName: 'CIM_ComputerSystem', SystemName: 'Intel(r) AMT'
  }
}), element('IPS_OptInService'))
basics(m, a, ips, 'PowerManagementService', 'IPS_PowerManagementService', null)
step(m, a, 'IPS_PowerManagementService.RequestOSPowerSavingStateChange', ips.PowerManagementService.RequestOSPowerSavingStateChange(2),
  { element: 'RequestOSPowerSavingStateChange_OUTPUT', returnValue: 0 })
basics(m, a, ips, 'HTTPProxyService', 'IPS_HTTPProxyService', null)
step(m, a, 'IPS_HTTPProxyService.AddProxyAccessPoint', ips.HTTPProxyService.AddProxyAccessPoint({
  AccessInfo: 'proxy.example.com', InfoFormat: 201, Port: 8080, NetworkDnsSuffix: 'example.com'
}), { element: 'AddProxyAccessPoint_OUTPUT', returnValue: 0 })
basics(m, a, ips, 'HTTPProxyAccessPoint', 'IPS_HTTPProxyAccessPoint', null)
step(m, a, 'IPS_HTTPProxyAccessPoint.UpdatePriority', ips.HTTPProxyAccessPoint.UpdatePriority(1),
  { element: 'UpdatePriority_OUTPUT', returnValue: 0 })
step(m, a, 'IPS_HTTPProxyAccessPoint.Delete', ips.HTTPProxyAccessPoint.Delete({ name: 'Name', value: 'Intel(r) ME:HTTP Proxy Access Point 0' }),
  element(''))
basics(m, a, ips, 'ScreenSettingData', 'IPS_ScreenSettingData', null)
basics(m, a, ips, 'KVMRedirectionSettingData', 'IPS_KVMRedirectionSettingData', null)
step(m, a, 'IPS_KVMRedirectionSettingData.Put', ips.KVMRedirectionSettingData.Put({
  BackToBackFbMode: false, DefaultScreen: 1, ElementName: 'Intel(r) KVM Redirection Settings', EnabledByMEBx: true,
  InstanceID: 'Intel(r) KVM Redirection Settings', Is5900PortEnabled: false, OptInPolicy: true, OptInPolicyTimeout: 300, SessionTimeout: 3
}), element('IPS_KVMRedirectionSettingData'))

// Clean-up deletes, then the setup service and unprovisioning last.
step(m, a, 'AMT_RemoteAccessPolicyRule.Delete', amt.RemoteAccessPolicyRule.Delete({ name: 'PolicyRuleName', value: 'User Initiated' }), element(''))
step(m, a, 'AMT_RemoteAccessPolicyRule.Delete.periodic', amt.RemoteAccessPolicyRule.Delete({ name: 'PolicyRuleName', value: 'Periodic' }), element(''))
step(m, a, 'AMT_ManagementPresenceRemoteSAP.Delete', amt.ManagementPresenceRemoteSAP.Delete({ name: 'Name', value: SAP0 }), element(''))
step(m, a, 'AMT_PublicPrivateKeyPair.Delete', amt.PublicPrivateKeyPair.Delete({ name: 'InstanceID', value: 'Intel(r) AMT Key: Handle: 1' }), element(''))
step(m, a, 'AMT_PublicKeyCertificate.Delete', amt.PublicKeyCertificate.Delete({ name: 'InstanceID', value: 'Intel(r) AMT Certificate: Handle: 0' }), element(''))
basics(m, a, amt, 'SetupAndConfigurationService', 'AMT_SetupAndConfigurationService', null)
const sc = amt.SetupAndConfigurationService
step(m, a, 'AMT_SetupAndConfigurationService.Put', sc.Put({
  CreationClassName: 'AMT_SetupAndConfigurationService', ElementName: 'Intel(r) AMT Setup and Configuration Service',
  Name: 'Intel(r) AMT Setup and Configuration Service', SystemCreationClassName: 'CIM_ComputerSystem', SystemName: 'Intel(r) AMT'
}), element('AMT_SetupAndConfigurationService'))
step(m, a, 'AMT_SetupAndConfigurationService.CommitChanges', sc.CommitChanges(), { element: 'CommitChanges_OUTPUT', returnValue: 0 })
step(m, a, 'AMT_SetupAndConfigurationService.GetUuid', sc.GetUuid(), element('GetUuid_OUTPUT'))
step(m, a, 'AMT_SetupAndConfigurationService.SetMEBXPassword', sc.SetMEBXPassword('Mebx-P@ss1'), element('SetMEBxPassword_OUTPUT'))
step(m, a, 'AMT_SetupAndConfigurationService.Unprovision', sc.Unprovision(1), { element: 'Unprovision_OUTPUT', returnValue: 0 })

process.stdout.write(JSON.stringify(steps))
