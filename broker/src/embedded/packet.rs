//! Just enough of the MQTT wire format (3.1.1 and 5) for the gate in front of the embedded broker to
//! authenticate clients and enforce the ACL: framing, CONNECT, PUBLISH and SUBSCRIBE headers, and the
//! refusals it sends itself. Everything else passes through untouched.

use bytes::{Buf, Bytes, BytesMut};

pub const CONNECT: u8 = 1;
pub const PUBLISH: u8 = 3;
pub const SUBSCRIBE: u8 = 8;

/// Larger packets are refused (the broker's own limit is the same).
pub const MAX_PACKET: usize = 1 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    #[error("malformed MQTT packet: {0}")]
    Malformed(&'static str),
    #[error("MQTT packet of {0} bytes is over the limit")]
    TooLarge(usize),
}

fn malformed(what: &'static str) -> PacketError {
    PacketError::Malformed(what)
}

/// Splits one whole packet off the front of `buf`, if it holds one.
pub fn next_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, PacketError> {
    let mut length = 0usize;
    let mut header_len = 1;
    loop {
        let Some(&byte) = buf.get(header_len) else {
            return Ok(None);
        };
        length |= usize::from(byte & 0x7f) << (7 * (header_len - 1));
        header_len += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if header_len > 4 {
            return Err(malformed("remaining length longer than 4 bytes"));
        }
    }
    let total = header_len + length;
    if total > MAX_PACKET {
        return Err(PacketError::TooLarge(total));
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(buf.split_to(total).freeze()))
}

pub fn packet_type(frame: &[u8]) -> u8 {
    frame.first().map_or(0, |b| b >> 4)
}

/// The variable header and payload of a frame.
fn body(frame: &[u8]) -> &[u8] {
    let mut i = 1;
    while i < frame.len() && frame[i] & 0x80 != 0 {
        i += 1;
    }
    frame.get(i + 1..).unwrap_or_default()
}

/// A cursor over a packet body with MQTT's primitive types.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, PacketError> {
        if self.0.is_empty() {
            return Err(malformed("truncated"));
        }
        Ok(self.0.get_u8())
    }

    fn u16(&mut self) -> Result<u16, PacketError> {
        if self.0.len() < 2 {
            return Err(malformed("truncated"));
        }
        Ok(self.0.get_u16())
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], PacketError> {
        if self.0.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn binary(&mut self) -> Result<&'a [u8], PacketError> {
        let n = self.u16()?;
        self.bytes(n.into())
    }

    fn string(&mut self) -> Result<&'a str, PacketError> {
        std::str::from_utf8(self.binary()?).map_err(|_| malformed("string is not UTF-8"))
    }

    fn varint(&mut self) -> Result<usize, PacketError> {
        let mut value = 0usize;
        for shift in 0..4 {
            let byte = self.u8()?;
            value |= usize::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("variable byte integer too long"))
    }

    /// Skips an MQTT 5 property list, returning the topic alias if it holds one.
    fn properties(&mut self) -> Result<Option<u16>, PacketError> {
        let len = self.varint()?;
        let mut props = Reader(self.bytes(len)?);
        let mut alias = None;
        while !props.0.is_empty() {
            match props.varint()? {
                0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                    props.u8()?;
                }
                0x13 | 0x21 | 0x22 => {
                    props.u16()?;
                }
                0x23 => alias = Some(props.u16()?),
                0x02 | 0x11 | 0x18 | 0x27 => {
                    props.bytes(4)?;
                }
                0x0B => {
                    props.varint()?;
                }
                0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                    props.string()?;
                }
                0x09 | 0x16 => {
                    props.binary()?;
                }
                0x26 => {
                    props.string()?;
                    props.string()?;
                }
                _ => return Err(malformed("unknown property")),
            }
        }
        Ok(alias)
    }
}

/// The parts of a CONNECT the gate decides on.
#[derive(Debug, PartialEq, Eq)]
pub struct Connect {
    /// 3 (3.1), 4 (3.1.1) or 5.
    pub level: u8,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will_topic: Option<String>,
}

impl Connect {
    pub fn is_v5(&self) -> bool {
        self.level == 5
    }
}

impl std::fmt::Display for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client {:?} user {:?}",
            self.client_id,
            self.username.as_deref().unwrap_or("")
        )
    }
}

pub fn parse_connect(frame: &[u8]) -> Result<Connect, PacketError> {
    if packet_type(frame) != CONNECT {
        return Err(malformed("first packet is not CONNECT"));
    }
    let mut r = Reader(body(frame));
    let protocol = r.string()?;
    let level = r.u8()?;
    if !matches!((protocol, level), ("MQTT", 4 | 5) | ("MQIsdp", 3)) {
        return Err(malformed("unsupported protocol"));
    }
    let flags = r.u8()?;
    r.u16()?; // keep alive
    if level == 5 {
        r.properties()?;
    }
    let client_id = r.string()?.to_owned();
    let will_topic = if flags & 0x04 != 0 {
        if level == 5 {
            r.properties()?;
        }
        let topic = r.string()?.to_owned();
        r.binary()?;
        Some(topic)
    } else {
        None
    };
    let username = (flags & 0x80 != 0)
        .then(|| r.string().map(str::to_owned))
        .transpose()?;
    let password = (flags & 0x40 != 0)
        .then(|| r.binary().map(<[u8]>::to_vec))
        .transpose()?;
    Ok(Connect {
        level,
        client_id,
        username,
        password,
        will_topic,
    })
}

/// The parts of a PUBLISH the gate decides on.
#[derive(Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    pub topic: &'a str,
    pub qos: u8,
    pub packet_id: Option<u16>,
    pub topic_alias: Option<u16>,
}

pub fn parse_publish(frame: &[u8], v5: bool) -> Result<Publish<'_>, PacketError> {
    let qos = (frame.first().copied().unwrap_or(0) >> 1) & 0x03;
    if qos == 3 {
        return Err(malformed("QoS 3"));
    }
    let mut r = Reader(body(frame));
    let topic = r.string()?;
    let packet_id = if qos > 0 { Some(r.u16()?) } else { None };
    let topic_alias = if v5 { r.properties()? } else { None };
    Ok(Publish {
        topic,
        qos,
        packet_id,
        topic_alias,
    })
}

/// The packet id and topic filters of a SUBSCRIBE.
pub fn parse_subscribe(frame: &[u8], v5: bool) -> Result<(u16, Vec<&str>), PacketError> {
    let mut r = Reader(body(frame));
    let packet_id = r.u16()?;
    if v5 {
        r.properties()?;
    }
    let mut filters = Vec::new();
    while !r.0.is_empty() {
        filters.push(r.string()?);
        r.u8()?; // options
    }
    if filters.is_empty() {
        return Err(malformed("SUBSCRIBE without filters"));
    }
    Ok((packet_id, filters))
}

/// Why the gate refuses a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadCredentials,
    NotAuthorized,
}

/// CONNACK refusing the connection, in the client's protocol version.
pub fn connack_refusal(v5: bool, refusal: Refusal) -> Vec<u8> {
    match (v5, refusal) {
        (true, Refusal::BadCredentials) => vec![0x20, 3, 0, 0x86, 0],
        (true, Refusal::NotAuthorized) => vec![0x20, 3, 0, 0x87, 0],
        (false, Refusal::BadCredentials) => vec![0x20, 2, 0, 4],
        (false, Refusal::NotAuthorized) => vec![0x20, 2, 0, 5],
    }
}

/// The acknowledgement of a refused PUBLISH: PUBACK (QoS 1) or PUBREC (QoS 2), with reason 0x87 (Not
/// authorized) in MQTT 5; MQTT 3.1.1 has no way to say no, so, like Mosquitto, it acknowledges and drops.
pub fn publish_refusal(v5: bool, qos: u8, packet_id: u16) -> Option<Vec<u8>> {
    let kind = match qos {
        1 => 0x40,
        2 => 0x50,
        _ => return None,
    };
    let [hi, lo] = packet_id.to_be_bytes();
    Some(if v5 {
        vec![kind, 3, hi, lo, 0x87]
    } else {
        vec![kind, 2, hi, lo]
    })
}

/// SUBACK refusing every filter of a SUBSCRIBE.
pub fn suback_refusal(v5: bool, packet_id: u16, filters: usize) -> Vec<u8> {
    let [hi, lo] = packet_id.to_be_bytes();
    let (code, props) = if v5 { (0x87, 1) } else { (0x80, 0) };
    let mut packet = vec![0x90];
    let mut remaining = 2 + props + filters;
    // Remaining length as a variable byte integer.
    loop {
        let mut byte = (remaining % 128) as u8;
        remaining /= 128;
        if remaining > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if remaining == 0 {
            break;
        }
    }
    packet.extend([hi, lo]);
    if v5 {
        packet.push(0);
    }
    packet.extend(std::iter::repeat_n(code, filters));
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(first: u8, body: &[u8]) -> Bytes {
        let mut v = vec![first, body.len() as u8];
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn frames_split_at_packet_boundaries_only() {
        let mut buf = BytesMut::from(&[0x30, 3, b'a', b'b'][..]);
        assert_eq!(next_frame(&mut buf), Ok(None));
        buf.extend_from_slice(&[b'c', 0xc0, 0]);
        assert_eq!(
            next_frame(&mut buf).unwrap().unwrap().as_ref(),
            &[0x30, 3, b'a', b'b', b'c']
        );
        assert_eq!(next_frame(&mut buf).unwrap().unwrap().as_ref(), &[0xc0, 0]);
        assert_eq!(next_frame(&mut buf), Ok(None));
        let mut bad = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert!(next_frame(&mut bad).is_err());
        let mut huge = BytesMut::from(&[0x30, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(
            next_frame(&mut huge),
            Err(PacketError::TooLarge(_))
        ));
    }

    #[test]
    fn reads_a_v5_connect_with_will_and_credentials() {
        let mut body = string("MQTT");
        body.extend([5, 0b1100_0100, 0, 60, 0]); // level, flags (user, password, will), keep alive, no props
        body.extend(string("client-1"));
        body.extend([0]); // will properties
        body.extend(string("openamt/v1/mps/a/status"));
        body.extend(string("bye"));
        body.extend(string("mps"));
        body.extend(string("secret"));
        let connect = parse_connect(&frame(0x10, &body)).unwrap();
        assert_eq!(connect.level, 5);
        assert_eq!(connect.client_id, "client-1");
        assert_eq!(connect.username.as_deref(), Some("mps"));
        assert_eq!(connect.password.as_deref(), Some(&b"secret"[..]));
        assert_eq!(
            connect.will_topic.as_deref(),
            Some("openamt/v1/mps/a/status")
        );
    }

    #[test]
    fn reads_publish_and_subscribe_headers() {
        let mut body = string("a/b");
        body.extend([0, 7, 3, 0x23, 0, 9]); // packet id 7, props: topic alias 9
        body.extend(b"payload");
        let publish_frame = frame(0x32, &body);
        let publish = parse_publish(&publish_frame, true).unwrap();
        assert_eq!(
            publish,
            Publish {
                topic: "a/b",
                qos: 1,
                packet_id: Some(7),
                topic_alias: Some(9)
            }
        );

        let mut body = vec![0, 5, 0];
        body.extend(string("a/#"));
        body.push(1);
        body.extend(string("b/+"));
        body.push(1);
        assert_eq!(
            parse_subscribe(&frame(0x82, &body), true).unwrap(),
            (5, vec!["a/#", "b/+"])
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &[0x10, 0][..],
            &[0x10, 2, 0, 9],
            &[0x30, 1, 0],
            &[0x82, 1, 0],
        ] {
            let _ = parse_connect(junk);
            let _ = parse_publish(junk, true);
            let _ = parse_subscribe(junk, true);
        }
        assert!(parse_connect(&frame(0x10, &string("HTTP"))).is_err());
    }

    #[test]
    fn refusals_are_well_formed() {
        assert_eq!(
            connack_refusal(true, Refusal::BadCredentials),
            [0x20, 3, 0, 0x86, 0]
        );
        assert_eq!(
            publish_refusal(true, 1, 0x0102),
            Some(vec![0x40, 3, 1, 2, 0x87])
        );
        assert_eq!(publish_refusal(false, 0, 1), None);
        assert_eq!(suback_refusal(true, 9, 2), [0x90, 5, 0, 9, 0, 0x87, 0x87]);
        assert_eq!(suback_refusal(false, 9, 1), [0x90, 3, 0, 9, 0x80]);
    }
}
