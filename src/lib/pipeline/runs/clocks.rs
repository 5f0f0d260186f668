//! Spikes per clock: the fields one sensor reports together share their instants,
//! so the spike rule's work on the instants is done once for all of them.

use std::collections::HashMap;

use crate::model::readings::{ChannelSeries, DropReason, RowAccount, RunId};
use crate::model::schema::{Channel, Sensor};
use crate::pipeline::runs::{ChannelFindings, SplitOptions};
use crate::pipeline::spikes::find_spikes_on_clock;
use crate::pipeline::validate::ChannelKey;

/// A channel's readings once collapsed, with what collapsing and spike finding drop
/// and find.
pub(super) type Collapsed = (ChannelKey, ChannelSeries, RowAccount, ChannelFindings);

/// The channels grouped by clock: the fields of one run's sensor whose readings
/// fall on the same instants (as a sensor reports them), so that what depends on
/// the instants alone is worked out once per clock.
pub(super) fn on_shared_clocks(channels: Vec<Collapsed>) -> Vec<Vec<Collapsed>> {
    let mut clocks: Vec<Vec<Collapsed>> = Vec::new();
    let mut by_sensor: HashMap<(RunId, u8, Sensor), Vec<usize>> = HashMap::new();
    for channel in channels {
        let ((run, Channel { robot, field }), series, ..) = &channel;
        let candidates = by_sensor.entry((*run, *robot, field.sensor())).or_default();
        match candidates
            .iter()
            .find(|&&c| clocks[c][0].1.time == series.time)
        {
            Some(&c) => clocks[c].push(channel),
            None => {
                candidates.push(clocks.len());
                clocks.push(vec![channel]);
            }
        }
    }
    clocks
}

/// Finds the isolated spikes of channels sharing one clock, lists them and, unless
/// they are kept, drops them from each series.
pub(super) fn set_spikes_aside(clock: &mut [Collapsed], options: SplitOptions) {
    let times = &clock[0].1.time;
    let gap = options.max_gap.bound_ns(times);
    let values: Vec<&[f64]> = clock.iter().map(|c| c.1.value.as_slice()).collect();
    let spikes = find_spikes_on_clock(times, &values, gap);
    for ((_, series, rows, found), spikes) in clock.iter_mut().zip(spikes) {
        if spikes.is_empty() {
            continue;
        }
        found.spikes = spikes
            .iter()
            .map(|&i| (series.time[i], series.value[i]))
            .collect();
        if options.keep_spikes {
            continue;
        }
        rows.drop(DropReason::Spike, spikes.len() as u64);
        let mut is_spike = vec![false; series.len()];
        for i in spikes {
            is_spike[i] = true;
        }
        let mut flags = is_spike.iter();
        series.time.retain(|_| flags.next() == Some(&false));
        let mut flags = is_spike.iter();
        series.value.retain(|_| flags.next() == Some(&false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::options::MaxGap;
    use crate::model::schema::Field;

    #[test]
    fn spikes_are_dropped_and_counted_or_kept_and_listed() {
        let times: Vec<i64> = (0..200).map(|k| k * 10_000_000).collect();
        let values: Vec<f64> = (0..200)
            .map(|k| 0.5 * k as f64 + if k == 120 { 40.0 } else { 0.0 })
            .collect();
        let series = ChannelSeries {
            time: times.clone(),
            value: values.clone(),
        };
        for keep_spikes in [false, true] {
            let options = SplitOptions {
                max_gap: MaxGap::Auto,
                keep_spikes,
            };
            // Two fields on one clock: the spike is in the first only.
            let key = |field| (7, Channel { robot: 1, field });
            let line = ChannelSeries {
                time: times.clone(),
                value: (0..200).map(|k| 0.25 * k as f64).collect(),
            };
            let mut clock: Vec<Collapsed> = vec![
                (
                    key(Field::X),
                    series.clone(),
                    RowAccount::default(),
                    ChannelFindings::default(),
                ),
                (
                    key(Field::Y),
                    line.clone(),
                    RowAccount::default(),
                    ChannelFindings::default(),
                ),
            ];
            set_spikes_aside(&mut clock, options);
            let [(_, s, rows, found), (_, other, other_rows, other_found)] = &clock[..] else {
                panic!("two channels");
            };
            assert_eq!(found.spikes, vec![(times[120], 100.0)]);
            assert_eq!((other, other_found), (&line, &ChannelFindings::default()));
            assert!(other_rows.dropped.is_empty());
            if keep_spikes {
                assert_eq!(s, &series);
                assert!(rows.dropped.is_empty());
            } else {
                assert_eq!(s.len(), 199);
                assert!(!s.time.contains(&times[120]));
                assert_eq!(rows.dropped[&DropReason::Spike], 1);
            }
        }
    }
}
