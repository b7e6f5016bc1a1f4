//! Standardised units: training on $r' = (r - c) / s$ so that `lr`, `reg` and `init_std` mean
//! the same on every rating scale.
//!
//! With $c$ the mean training rating (biased models; 0 for unbiased ones) and $s$ the
//! standard deviation about it (the root mean square when unbiased), a model
//! $\mu' + b'_u + b'_i + p'^\top q'$ fitted to $r'$ predicts
//! $r = (c + s\mu') + s b'_u + s b'_i + (\sqrt{s} p')^\top (\sqrt{s} q')$, which is how the
//! fitted parameters are mapped back.

use crate::data::Interactions;

/// The affine map between the ratings' units and the units a fit trains in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Units {
    /// `c`.
    pub center: f32,
    /// `s` (> 0).
    pub scale: f32,
}

impl Units {
    /// No change: training on the raw values.
    pub const IDENTITY: Units = Units {
        center: 0.0,
        scale: 1.0,
    };

    /// Centre (if `biased`) and spread of `data`'s ratings, summed in f64; the identity
    /// unless `standardize`, and a unit scale when every rating is the same.
    pub fn of(data: &Interactions<'_>, biased: bool, standardize: bool) -> Units {
        if !standardize || data.is_empty() {
            return Units::IDENTITY;
        }
        let center = if biased { data.mean() } else { 0.0 };
        let sq: f64 = data
            .ratings
            .iter()
            .map(|&r| (f64::from(r) - center).powi(2))
            .sum();
        let scale = (sq / data.len() as f64).sqrt();
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Units {
            center: center as f32,
            scale: scale as f32,
        }
    }

    /// A rating in training units (exactly `r` for the identity).
    #[inline]
    pub fn to_model(self, r: f32) -> f32 {
        (r - self.center) / self.scale
    }

    /// A prediction in training units back in the ratings' units.
    #[inline]
    pub fn to_ratings(self, x: f32) -> f32 {
        self.center + self.scale * x
    }

    /// Scales `xs` in place by `factor`; 1 (the identity's) leaves every bit as it is.
    pub fn rescale(xs: &mut [f32], factor: f32) {
        for x in xs {
            *x *= factor;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Units;
    use crate::data::Interactions;

    #[test]
    #[allow(clippy::float_cmp)] // exact values: 4 is the mean of 1, 3, 5, 7 in any order
    fn centre_and_spread_of_the_ratings() {
        let (u, i) = ([0u32, 0, 1, 1], [0u32, 1, 0, 1]);
        let r = [1.0f32, 3.0, 5.0, 7.0];
        let data = Interactions::new(&u, &i, &r, 2, 2).unwrap();
        let units = Units::of(&data, true, true);
        assert_eq!(units.center, 4.0);
        assert!((units.scale - 5.0f32.sqrt()).abs() < 1e-6);
        assert!((units.to_ratings(units.to_model(6.5)) - 6.5).abs() < 1e-6);
        let unbiased = Units::of(&data, false, true);
        assert_eq!(unbiased.center, 0.0);
        assert!((unbiased.scale - 21.0f32.sqrt()).abs() < 1e-6);
        assert_eq!(Units::of(&data, true, false), Units::IDENTITY);
        let same = [2.0f32; 4];
        let flat = Interactions::new(&u, &i, &same, 2, 2).unwrap();
        assert_eq!(Units::of(&flat, true, true).scale, 1.0);
        assert_eq!(Units::IDENTITY.to_model(0.3), 0.3);
    }
}
