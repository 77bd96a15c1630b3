//! Decode throughput of the APF codec: `cargo bench -p apf --bench decode_throughput` (also
//! `openamt bench apf`). Prints messages/s and MB/s for keep-alive and CHANNEL_DATA streams.

fn main() -> Result<(), apf::ApfError> {
    for run in apf::bench::run(1)? {
        println!("{run}");
    }
    Ok(())
}
