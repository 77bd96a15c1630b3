//! From a SOAP request to a SOAP answer: find the class by resource URI, the operation by action, run
//! it against the device state, and wrap the result the way AMT does.

use wsman::catalog::{self, action};
use wsman::response::{FaultSpec, Instance, Prop, Reply, amt_message_id};
use wsman::xml::Element;
use wsman::{EndpointReference, Request, RequestError, Selector, SelectorValue, parse_request};

use super::classes;
use crate::device::logs::Initiator;
use crate::device::{Device, DeviceState, Identity};

/// What to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A SOAP envelope with its HTTP status (200, or 400/500 for faults).
    Soap { status: u16, body: String },
    /// Not a SOAP request at all.
    BadRequest,
}

/// Output parameters of a method (`ReturnValue` last, as AMT writes it).
pub type Output = Vec<(String, Prop)>;

/// The result of an operation on a class.
pub type OpResult<T> = Result<T, FaultSpec>;

/// Everything an operation may look at or change.
pub struct Ctx<'a> {
    pub id: &'a Identity,
    pub state: &'a mut DeviceState,
    pub request: &'a Request,
    /// The authenticated digest user.
    pub user: &'a str,
    /// An RSA key made before the lock was taken (GenerateKeyPair): (PKCS#1 public, PKCS#8 private).
    pub generated_key: Option<(Vec<u8>, Vec<u8>)>,
}

impl Ctx<'_> {
    /// The element inside `Body` (`*_INPUT`, or the instance of a Put/Create).
    pub fn payload(&self) -> OpResult<&Element> {
        self.request
            .payload()
            .ok_or_else(|| FaultSpec::schema_validation_error("The request body is empty."))
    }

    /// Text of a payload child, trimmed.
    pub fn field(&self, name: &str) -> Option<String> {
        self.request
            .payload()
            .and_then(|p| p.child(name))
            .map(|e| e.text.trim().to_string())
    }

    /// All values of a repeated payload child.
    pub fn fields(&self, name: &str) -> Vec<String> {
        self.request
            .payload()
            .map(|p| {
                p.children_named(name)
                    .map(|e| e.text.trim().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn required(&self, name: &str) -> OpResult<String> {
        self.field(name).ok_or_else(|| {
            FaultSpec::schema_validation_error(format!("The parameter {name} is missing."))
        })
    }

    pub fn required_u32(&self, name: &str) -> OpResult<u32> {
        self.required(name)?.parse().map_err(|_| {
            FaultSpec::schema_validation_error(format!("The parameter {name} is not a number."))
        })
    }

    pub fn field_u32(&self, name: &str) -> OpResult<Option<u32>> {
        match self.field(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                FaultSpec::schema_validation_error(format!("The property {name} is not a number."))
            }),
        }
    }

    pub fn field_bool(&self, name: &str) -> OpResult<Option<bool>> {
        match self.field(name).as_deref() {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(Some(false)),
            Some(_) => Err(FaultSpec::schema_validation_error(format!(
                "The property {name} is not a boolean."
            ))),
        }
    }

    /// An endpoint reference parameter (e.g. `ManagedElement`, `MpServer`, `Source`).
    pub fn reference(&self, name: &str) -> Option<EndpointReference> {
        self.request
            .payload()
            .and_then(|p| p.child(name))
            .map(wsman::parse::endpoint_reference_of)
    }

    pub fn initiator(&self) -> Initiator {
        Initiator::Digest(self.user.to_string())
    }

    /// Appends an audit record attributed to the requesting user.
    pub fn audit(&mut self, app_id: u16, event_id: u16, extended: Vec<u8>) {
        let initiator = self.initiator();
        self.state.log_audit(app_id, event_id, initiator, extended);
    }
}

/// `[("ReturnValue", code)]`.
pub fn return_value(code: u32) -> Output {
    vec![("ReturnValue".to_string(), Prop::text(code))]
}

/// An operation of a class.
pub type InstancesFn = fn(&Identity, &DeviceState) -> Vec<Instance>;
pub type ChangeFn = fn(&mut Ctx<'_>) -> OpResult<()>;
pub type CreateFn = fn(&mut Ctx<'_>) -> OpResult<EndpointReference>;
pub type MethodFn = fn(&mut Ctx<'_>) -> OpResult<Output>;

/// A class the device serves.
pub struct ClassDef {
    pub name: &'static str,
    /// Current instances (Get, Enumerate/Pull).
    pub instances: InstancesFn,
    pub put: Option<ChangeFn>,
    pub delete: Option<ChangeFn>,
    pub create: Option<CreateFn>,
    pub methods: &'static [(&'static str, MethodFn)],
}

impl ClassDef {
    /// A read-only class.
    pub const fn read_only(name: &'static str, instances: InstancesFn) -> ClassDef {
        ClassDef {
            name,
            instances,
            put: None,
            delete: None,
            create: None,
            methods: &[],
        }
    }
}

/// Parses and answers one SOAP request as `user`.
pub async fn handle_soap(device: &Device, user: &str, xml: &str) -> Answer {
    let request = match parse_request(xml) {
        Ok(request) => request,
        Err(RequestError::Xml(error)) => {
            tracing::debug!(guid = %device.guid(), %error, "WS-Man request is not XML");
            return Answer::BadRequest;
        }
        Err(RequestError::NotSoap(what)) => {
            tracing::debug!(guid = %device.guid(), what, "WS-Man request is not SOAP");
            return Answer::BadRequest;
        }
        Err(RequestError::MissingHeader(header)) => {
            let fault = FaultSpec::invalid_message_information_header(format!(
                "The {header} header is missing."
            ));
            let body = device.with_state(|state| {
                let message_id = amt_message_id(state.protocol.next_answer());
                Reply {
                    relates_to: "",
                    message_id: &message_id,
                    resource_uri: None,
                }
                .fault(&fault)
            });
            return Answer::Soap {
                status: fault.code.http_status(),
                body,
            };
        }
    };
    // Key generation takes tens of milliseconds: do it before taking the device lock.
    let generated_key = if request
        .action
        .ends_with("/AMT_PublicKeyManagementService/GenerateKeyPair")
    {
        tokio::task::spawn_blocking(classes::pki::generate_rsa_key)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let identity = device.identity().clone();
    device.with_state(|state| {
        let mut ctx = Ctx {
            id: &identity,
            state,
            request: &request,
            user,
            generated_key,
        };
        answer(&mut ctx)
    })
}

fn answer(ctx: &mut Ctx<'_>) -> Answer {
    let message_id = amt_message_id(ctx.state.protocol.next_answer());
    let request = ctx.request;
    let reply = Reply {
        relates_to: &request.message_id,
        message_id: &message_id,
        resource_uri: Some(&request.resource_uri),
    };
    let fault = |spec: FaultSpec| Answer::Soap {
        status: spec.code.http_status(),
        body: reply.fault(&spec),
    };
    let ok = |body: String| Answer::Soap { status: 200, body };

    let class_name = catalog::class_name(&request.resource_uri);
    let class = catalog::resource_uri(class_name)
        .filter(|uri| *uri == request.resource_uri)
        .and_then(|_| classes::lookup(class_name));
    let Some(class) = class else {
        tracing::debug!(resource = %request.resource_uri, "unknown WS-Man resource");
        return fault(FaultSpec::destination_unreachable(&request.resource_uri));
    };
    tracing::trace!(class = class.name, action = %request.action, "WS-Man request");

    match request.action.as_str() {
        action::GET => match select(
            &(class.instances)(ctx.id, ctx.state),
            &request.selectors,
            None,
        ) {
            Some(instance) => ok(reply.get(&instance)),
            None => fault(FaultSpec::invalid_selectors()),
        },
        action::ENUMERATE => {
            let items = (class.instances)(ctx.id, ctx.state);
            let context = ctx
                .state
                .protocol
                .open_enumeration(&request.resource_uri, items);
            ok(reply.enumerate(&context))
        }
        action::PULL => {
            let pull = request.payload();
            let context = pull
                .and_then(|p| p.child_text("EnumerationContext"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let max = pull
                .and_then(|p| p.child_text("MaxElements"))
                .and_then(|m| m.trim().parse::<usize>().ok())
                .unwrap_or(1);
            match ctx
                .state
                .protocol
                .pull(&context, &request.resource_uri, max)
            {
                Some((items, true)) => ok(reply.pull(&items, None)),
                Some((items, false)) => ok(reply.pull(&items, Some(&context))),
                None => fault(FaultSpec::invalid_enumeration_context()),
            }
        }
        action::RELEASE => {
            let context = request
                .payload()
                .and_then(|p| p.child_text("EnumerationContext"))
                .unwrap_or_default();
            let context = context.trim().to_string();
            ctx.state
                .protocol
                .enumerations
                .retain(|e| e.context != context);
            ok(reply.envelope(action::RELEASE_RESPONSE, &[], ""))
        }
        action::PUT => {
            let Some(put) = class.put else {
                return fault(FaultSpec::action_not_supported(&request.action));
            };
            if let Err(spec) = put(ctx) {
                return fault(spec);
            }
            let key = request.payload().and_then(instance_key);
            match select(
                &(class.instances)(ctx.id, ctx.state),
                &request.selectors,
                key.as_ref(),
            ) {
                Some(instance) => ok(reply.put(&instance)),
                None => fault(FaultSpec::invalid_selectors()),
            }
        }
        action::DELETE => match class.delete {
            Some(delete) => match delete(ctx) {
                Ok(()) => ok(reply.delete()),
                Err(spec) => fault(spec),
            },
            None => fault(FaultSpec::action_not_supported(&request.action)),
        },
        action::CREATE => match class.create {
            Some(create) => match create(ctx) {
                Ok(reference) => ok(reply.create(&reference)),
                Err(spec) => fault(spec),
            },
            None => fault(FaultSpec::action_not_supported(&request.action)),
        },
        other => {
            let method = other
                .strip_prefix(request.resource_uri.as_str())
                .and_then(|m| m.strip_prefix('/'));
            let Some((name, run)) =
                method.and_then(|m| class.methods.iter().find(|(name, _)| *name == m))
            else {
                return fault(FaultSpec::action_not_supported(other));
            };
            match run(ctx) {
                Ok(output) => ok(reply.method(name, &output)),
                Err(spec) => fault(spec),
            }
        }
    }
}

/// The key property of a Put payload (InstanceID, or Name), used to pick the answer instance.
fn instance_key(payload: &Element) -> Option<(String, String)> {
    ["InstanceID", "Name"].iter().find_map(|k| {
        payload
            .child(k)
            .map(|e| (k.to_string(), e.text.trim().to_string()))
    })
}

/// The instance the selectors name: every selector must equal the property of that name (properties
/// the instance does not have are not compared). Without selectors, the key of a Put payload, else
/// the first instance.
pub fn select(
    instances: &[Instance],
    selectors: &[Selector],
    key: Option<&(String, String)>,
) -> Option<Instance> {
    if selectors.is_empty() {
        if let Some((name, value)) = key
            && let Some(found) = instances
                .iter()
                .find(|i| i.text(name) == Some(value.as_str()))
        {
            return Some(found.clone());
        }
        return instances.first().cloned();
    }
    instances
        .iter()
        .find(|instance| selectors.iter().all(|s| selector_matches(instance, s)))
        .cloned()
}

fn selector_matches(instance: &Instance, selector: &Selector) -> bool {
    match (&selector.value, instance.get(&selector.name)) {
        (_, None) => true,
        (SelectorValue::Text(want), Some(Prop::Text(have))) => want == have,
        (SelectorValue::Reference(want), Some(Prop::Reference(have))) => {
            want.selectors.iter().all(|w| {
                have.selectors
                    .iter()
                    .any(|h| h.name == w.name && h.value == w.value)
            })
        }
        _ => false,
    }
}
