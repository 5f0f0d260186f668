//! The valid data: run ids, each clock's jittered timestamps and each channel's
//! smooth signal, drawn in row order from the one random stream.
//!
//! Everything here is valid by construction; the bad rows of [`crate::inject`] are
//! copies of these readings with one thing broken.

use harvester::model::schema::{Field, Sensor};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::layout::{coverage_ms, duration_scale, period_ms, run_duration_ms, BASE_MS, LAYOUT};
use crate::{Cadence, GeneratedRun, RunUuidType};

/// The valid readings, column-wise, in row order.
#[derive(Default)]
pub(crate) struct Readings {
    pub(crate) time_ms: Vec<i64>,
    pub(crate) value: Vec<f64>,
    /// Index into the channel list [`draw_readings`] returns.
    pub(crate) channel: Vec<u16>,
}

/// (run index, robot, field) of a channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelKey {
    pub(crate) run: usize,
    pub(crate) robot: u8,
    pub(crate) field: Field,
}

/// Draws the readings of every run in [`LAYOUT`], scaled to about `rows` rows, with
/// `keys` as the runs' ids as a reader sees them. Returns the readings, the channel
/// each reading's `channel` indexes, and the runs as a correct reader sees them.
pub(crate) fn draw_readings(
    rng: &mut SmallRng,
    rows: usize,
    cadence: Cadence,
    keys: &[u64; 4],
) -> (Readings, Vec<ChannelKey>, Vec<GeneratedRun>) {
    let mut readings = Readings::default();
    let mut channels: Vec<ChannelKey> = Vec::new();
    let mut runs = Vec::new();
    if rows == 0 {
        return (readings, channels, runs);
    }
    let scale = duration_scale(rows, cadence);
    readings.time_ms.reserve(rows + rows / 16);
    readings.value.reserve(rows + rows / 16);
    readings.channel.reserve(rows + rows / 16);
    for (run_index, layout) in LAYOUT.iter().enumerate() {
        let run_ms = run_duration_ms(layout, scale);
        let start_ms = BASE_MS + (layout.start_s * 1000.0 * scale).round() as i64;
        let stop_ms = start_ms + run_ms.round() as i64;
        let mut run = GeneratedRun {
            run_uuid: keys[run_index],
            start_ns: i64::MAX,
            stop_ns: i64::MIN,
            channels: Vec::new(),
        };
        for clock in layout.clocks {
            let times = clock_times(rng, clock.sensor, cadence, start_ms, stop_ms);
            let period = period_ms(clock.sensor, cadence) as f64;
            for &(field, coverage) in clock.fields {
                let (from, len) = coverage_ms(coverage, run_ms, scale, period);
                let from_ms = start_ms + from.round() as i64;
                let to_ms = from_ms + len.round() as i64;
                let signal = Signal::for_field(rng, field, cadence);
                let channel = channels.len() as u16;
                channels.push(ChannelKey {
                    run: run_index,
                    robot: clock.robot,
                    field,
                });
                run.channels.push((clock.robot, field.name()));
                for &t in times.iter().filter(|&&t| t >= from_ms && t < to_ms) {
                    let t_s = (t - start_ms) as f64 / 1000.0;
                    readings.time_ms.push(t);
                    readings.value.push(signal.sample(rng, t_s));
                    readings.channel.push(channel);
                    run.start_ns = run.start_ns.min(t * 1_000_000);
                    run.stop_ns = run.stop_ns.max(t * 1_000_000);
                }
            }
        }
        runs.push(run);
    }
    (readings, channels, runs)
}

/// A smooth signal: offset plus three sinusoids, plus small Gaussian-ish noise.
struct Signal {
    offset: f64,
    /// (amplitude, angular frequency in rad/s, phase).
    components: [(f64, f64, f64); 3],
    noise_sd: f64,
}

impl Signal {
    /// At the slow cadence the curves are ten times slower, so that readings 1.667 s
    /// apart still trace them.
    fn for_field(rng: &mut SmallRng, field: Field, cadence: Cadence) -> Self {
        use std::f64::consts::TAU;
        let (offset, amp, freq_hz, noise_sd) = match field {
            // Positions in mm, a few hundred mm of travel.
            Field::X => (rng.gen_range(600.0..900.0), 20.0..150.0, 0.02..0.25, 0.02),
            Field::Y => (rng.gen_range(-250.0..250.0), 20.0..150.0, 0.02..0.25, 0.02),
            Field::Z => (rng.gen_range(150.0..450.0), 20.0..150.0, 0.02..0.25, 0.02),
            // Forces in N: fz presses, fx and fy push sideways.
            Field::Fx | Field::Fy => (rng.gen_range(-40.0..40.0), 10.0..120.0, 0.05..1.5, 1.5),
            Field::Fz => (rng.gen_range(-350.0..-120.0), 10.0..120.0, 0.05..1.5, 1.5),
        };
        let mut components = [(0.0, 0.0, 0.0); 3];
        for c in &mut components {
            *c = (
                rng.gen_range(amp.clone()),
                TAU * rng.gen_range(freq_hz.clone()),
                rng.gen_range(0.0..TAU),
            );
            if cadence == Cadence::Slow {
                c.1 /= 10.0;
            }
        }
        if field.sensor() == Sensor::Encoder {
            // Keep peak speed realistic (at most ~450 mm/s).
            let peak: f64 = components.iter().map(|(a, w, _)| a * w).sum();
            if peak > 450.0 {
                for c in &mut components {
                    c.0 *= 450.0 / peak;
                }
            }
        }
        Signal {
            offset,
            components,
            noise_sd,
        }
    }

    fn sample(&self, rng: &mut SmallRng, t_s: f64) -> f64 {
        let smooth: f64 = self
            .components
            .iter()
            .map(|(a, w, p)| a * (w * t_s + p).sin())
            .sum();
        // Four uniforms summed: cheap, close enough to normal for sensor noise.
        let u: f64 = rng.gen::<f64>() + rng.gen::<f64>() + rng.gen::<f64>() + rng.gen::<f64>();
        let noise = (u - 2.0) * 3f64.sqrt() * self.noise_sd;
        round4(self.offset + smooth + noise)
    }
}

/// Four decimals, like the production files.
pub(crate) fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// Timestamps (ms since epoch) of one robot/sensor clock over `[start_ms, stop_ms)`:
/// a fixed grid with non-accumulating jitter, so the clock never drifts.
fn clock_times(
    rng: &mut SmallRng,
    sensor: Sensor,
    cadence: Cadence,
    start_ms: i64,
    stop_ms: i64,
) -> Vec<i64> {
    let period = period_ms(sensor, cadence);
    let origin = match sensor {
        // Aligned to 4 ms: with a 12 ms period every third whole second is hit.
        Sensor::Encoder => (start_ms + rng.gen_range(0..40) + 3) / 4 * 4,
        Sensor::LoadCell => start_ms + rng.gen_range(0..10),
    };
    let mut times = Vec::with_capacity(((stop_ms - origin).max(0) / period) as usize + 1);
    let mut nominal = origin;
    while nominal < stop_ms {
        let jitter = match sensor {
            // Small jitter: one sample in ten is 1 ms early or late.
            Sensor::Encoder => match rng.gen_range(0..20) {
                0 => -1,
                1 => 1,
                _ => 0,
            },
            Sensor::LoadCell => rng.gen_range(-1..=1),
        };
        times.push(nominal + jitter);
        nominal += period;
    }
    times
}

/// Draws the four run ids: distinct, one above 2^63 unless the type is Int64, all
/// large enough that an `f64` loses precision on them, and distinct as `f64` too.
pub(crate) fn draw_run_ids(rng: &mut SmallRng, ty: RunUuidType) -> [u64; 4] {
    const TOP: u64 = 1 << 63;
    const NEXT: u64 = 1 << 62;
    loop {
        let big = rng.gen_range(0..4);
        let mut ids = [0u64; 4];
        for (i, id) in ids.iter_mut().enumerate() {
            let raw: u64 = rng.gen();
            *id = if i == big && ty != RunUuidType::Int64 {
                // In [2^63, 2^63 + 2^62): above i64, far from u64::MAX so the f64
                // rounding cannot overflow.
                (raw | TOP) & !NEXT
            } else {
                // In [2^62, 2^63): fits i64, beyond f64's 53-bit mantissa.
                (raw & !TOP) | NEXT
            };
        }
        let distinct = (0..4)
            .all(|i| (i + 1..4).all(|j| ids[i] != ids[j] && (ids[i] as f64) != (ids[j] as f64)));
        if distinct {
            return ids;
        }
    }
}
