//! The min/max statistics of PLAIN pages of floats, computed by the store rather
//! than by polars-parquet: its kernel folds a page value by value, each step
//! waiting on the last (NaN-propagating min and max do not vectorise), and was the
//! largest single cost of writing a run's table. Here the values are folded in
//! eight independent lanes, which the compiler turns into packed min/max
//! instructions; the statistics written are the same bytes.

use polars::prelude::*;
use polars_parquet::parquet::page::{DataPage, DataPageHeader};
use polars_parquet::parquet::CowBuffer;

use crate::pipeline::split_pages::levels_and_values;

/// `page` (PLAIN floats of `width` bytes, written without min/max statistics) with
/// the min and max of its values in its header, as polars-parquet writes them: the
/// first NaN (its bits) for both if there is one, else the smallest and largest
/// value with a zero written as −0 for the min and +0 for the max; none without
/// values.
pub(super) fn with_float_statistics(mut page: DataPage, width: usize) -> PolarsResult<DataPage> {
    let (_, values) = levels_and_values(&page)?;
    let (min, max) = match width {
        8 => min_max::<8>(values, f64::from_le_bytes, f64::to_le_bytes),
        4 => min_max::<4>(
            values,
            |b| f64::from(f32::from_le_bytes(b)),
            // Exact: the value came from an f32.
            |v| (v as f32).to_le_bytes(),
        ),
        other => polars_bail!(ComputeError: "no {other}-byte floats"),
    }
    .unzip();
    let mut header = page.header().clone();
    let statistics = match &mut header {
        DataPageHeader::V1(header) => &mut header.statistics,
        DataPageHeader::V2(header) => &mut header.statistics,
    };
    let Some(statistics) = statistics else {
        polars_bail!(ComputeError: "a page of floats written without statistics");
    };
    statistics.min_value = min;
    statistics.max_value = max;
    let rows = page.num_rows.unwrap_or_else(|| page.num_values());
    // The encoder's own buffer, moved rather than copied.
    let buffer = std::mem::take(page.buffer_mut());
    Ok(DataPage::new(
        header,
        CowBuffer::Owned(buffer),
        page.descriptor,
        rows,
    ))
}

/// The little-endian bytes of the min and max of `values` (back-to-back floats of
/// `W` bytes, read as f64 by `read` and written back by `write`); see
/// [`with_float_statistics`].
fn min_max<const W: usize>(
    values: &[u8],
    read: impl Fn([u8; W]) -> f64,
    write: impl Fn(f64) -> [u8; W],
) -> Option<(Vec<u8>, Vec<u8>)> {
    const LANES: usize = 8;
    let (values, _) = values.as_chunks::<W>();
    let (blocks, rest) = values.as_chunks::<LANES>();
    let mut low = [f64::INFINITY; LANES];
    let mut high = [f64::NEG_INFINITY; LANES];
    let mut nan = [false; LANES];
    for block in blocks {
        for lane in 0..LANES {
            let v = read(block[lane]);
            low[lane] = if v < low[lane] { v } else { low[lane] };
            high[lane] = if v > high[lane] { v } else { high[lane] };
            nan[lane] |= v.is_nan();
        }
    }
    let mut any_nan = nan.iter().any(|&n| n);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for lane in 0..LANES {
        min = min.min(low[lane]);
        max = max.max(high[lane]);
    }
    for value in rest {
        let v = read(*value);
        any_nan |= v.is_nan();
        min = min.min(v);
        max = max.max(v);
    }
    if values.is_empty() {
        return None;
    }
    if any_nan {
        let first = values
            .iter()
            .find(|v| read(**v).is_nan())
            .expect("a NaN was seen");
        return Some((first.to_vec(), first.to_vec()));
    }
    let min = if min == 0.0 { -0.0 } else { min };
    let max = if max == 0.0 { 0.0 } else { max };
    Some((write(min).to_vec(), write(max).to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_arrow::array::PrimitiveArray;
    use polars_arrow::scalar::PrimitiveScalar;
    use polars_compute::min_max::dyn_array_min_max_propagate_nan;

    /// What polars-parquet writes for these values: its kernel, then its
    /// normalisation of zeros.
    fn polars_min_max(values: &[f64]) -> Option<(u64, u64)> {
        let array = PrimitiveArray::<f64>::from_slice(values);
        let (min, max) = dyn_array_min_max_propagate_nan(&array)?;
        let value = |s: Box<dyn polars_arrow::scalar::Scalar>| {
            s.as_any()
                .downcast_ref::<PrimitiveScalar<f64>>()
                .unwrap()
                .value()
                .unwrap()
        };
        let (min, max) = (value(min), value(max));
        let min = if min == 0.0 { -0.0 } else { min };
        let max = if max == 0.0 { 0.0 } else { max };
        Some((min.to_bits(), max.to_bits()))
    }

    fn ours(values: &[f64]) -> Option<(u64, u64)> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        min_max::<8>(&bytes, f64::from_le_bytes, f64::to_le_bytes).map(|(min, max)| {
            (
                u64::from_le_bytes(min.try_into().unwrap()),
                u64::from_le_bytes(max.try_into().unwrap()),
            )
        })
    }

    #[test]
    fn float_statistics_are_polars_parquets_bit_for_bit() {
        let odd_nan = f64::from_bits(0x7ff8_0000_0000_0abc);
        let cases: Vec<Vec<f64>> = vec![
            vec![],
            vec![1.5],
            vec![0.0],
            vec![-0.0, 0.0, -0.0],
            vec![f64::INFINITY; 9],
            vec![f64::NEG_INFINITY, 3.0],
            (0..1_000)
                .map(|i| (i as f64 * 0.37).sin() * 250.0)
                .collect(),
            (0..17).map(|i| -(i as f64)).collect(),
            (0..40)
                .map(|i| if i == 23 { odd_nan } else { i as f64 })
                .collect(),
            (0..40)
                .map(|i| match i {
                    3 => f64::NAN,
                    30 => odd_nan,
                    _ => 1.0,
                })
                .collect(),
            vec![f64::MIN_POSITIVE, -f64::MIN_POSITIVE, f64::MAX, f64::MIN],
        ];
        for values in cases {
            assert_eq!(ours(&values), polars_min_max(&values), "{values:?}");
        }
    }

    #[test]
    fn four_byte_floats_keep_their_width() {
        let values: Vec<f32> = vec![2.5, -0.0, 7.25, 0.0, -3.5];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (min, max) = min_max::<4>(
            &bytes,
            |b| f64::from(f32::from_le_bytes(b)),
            |v| (v as f32).to_le_bytes(),
        )
        .unwrap();
        assert_eq!(min, (-3.5f32).to_le_bytes());
        assert_eq!(max, 7.25f32.to_le_bytes());
    }
}
