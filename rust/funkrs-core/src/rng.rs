//! A small, fast, seedable random number generator (SplitMix64 seeding a xoshiro256++).
//!
//! funkrs fixes its own generator so that a seed gives the same model on every platform and
//! in every version of the dependencies; results never depend on the thread count.

/// xoshiro256++ generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One xoshiro256++ step: the output, and the state advanced.
#[inline]
fn step(s: &mut [u64; 4]) -> u64 {
    let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
    let t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3].rotate_left(45);
    result
}

impl Rng {
    /// A generator whose stream is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// An independent stream derived from this seed and a stream number.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut st = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Rng::new(splitmix64(&mut st))
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        step(&mut self.s)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift; `n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fills `out` with draws from `N(mean, std²)` (ziggurat method, see `Ziggurat`): two
    /// draws from each 64-bit output, the low half first.
    ///
    /// The generator's state stays in locals while both draws of a word fall inside their
    /// rectangles (94.6% of words); it goes back into `self` only around the rarer draws
    /// that need more random bits, so the stream is the same as drawing one by one (15% faster
    /// than keeping the state in `self` throughout, measured on 0.9M draws).
    pub fn fill_normal(&mut self, out: &mut [f32], mean: f32, std: f32) {
        static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
        let z = TABLES.get_or_init(Ziggurat::new);
        let mut state = self.s;
        let mut pairs = out.chunks_exact_mut(2);
        for pair in &mut pairs {
            let bits = step(&mut state);
            let (lo, hi) = (bits as u32, (bits >> 32) as u32);
            let (a, a_inside) = z.rectangle(lo);
            let (b, b_inside) = z.rectangle(hi);
            let (mut a, mut b) = (with_sign(a, lo), with_sign(b, hi));
            if !(a_inside && b_inside) {
                self.s = state;
                if !a_inside {
                    a = z.sample(lo, self);
                }
                if !b_inside {
                    b = z.sample(hi, self);
                }
                state = self.s;
            }
            pair[0] = mean + std * a;
            pair[1] = mean + std * b;
        }
        self.s = state;
        for x in pairs.into_remainder() {
            let bits = self.next_u64();
            *x = mean + std * z.sample(bits as u32, self);
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

/// Marsaglia and Tsang's ziggurat for the standard normal, with 128 layers of equal area
/// `V` under `f(x) = exp(−x²/2)`: layer 0 is the base strip `[0, R]` plus the tail, layer `i`
/// spans `[0, X[i]]` and contains the rectangle `[0, X[i + 1]]`. One 32-bit draw gives the
/// layer (7 bits), the sign (1 bit) and the abscissa (24 bits, an `f32`'s precision, which is
/// what the factors are stored in); 97.25% of draws land inside a rectangle and cost one
/// multiplication and a comparison in `f32` (the top layer, 1/128 of the draws, has no
/// rectangle). The wedges and the tail are decided in `f64`.
pub(crate) struct Ziggurat {
    /// `f(X[i])` (see [`ziggurat_edges`]).
    f: [f64; 129],
    /// The right edges `X[i]` rounded to `f32`, for the rectangle test.
    x32: [f32; 129],
}

/// `x` with bit 7 of `bits` as its sign (a branch on that bit would be mispredicted half the
/// time).
#[inline]
fn with_sign(x: f32, bits: u32) -> f32 {
    f32::from_bits(x.to_bits() ^ ((bits & 0x80) << 24))
}

/// Right edge of the base strip for 128 layers.
const ZIG_R: f64 = 3.442_619_855_899;
/// Area of each layer for 128 layers (with `f` unnormalised).
const ZIG_V: f64 = 9.912_563_035_262_17e-3;

/// The layers' right edges `X[0..=128]` (`X[0] = V / f(R)`, `X[1] = R`, `X[128] = 0`) and
/// `f(X[i])`.
fn ziggurat_edges() -> ([f64; 129], [f64; 129]) {
    let f = |x: f64| (-0.5 * x * x).exp();
    let mut x = [0.0f64; 129];
    x[0] = ZIG_V / f(ZIG_R);
    x[1] = ZIG_R;
    for i in 1..127 {
        let y = ZIG_V / x[i] + f(x[i]);
        x[i + 1] = (-2.0 * y.ln()).sqrt();
    }
    x[128] = 0.0;
    (x, x.map(f))
}

impl Ziggurat {
    pub(crate) fn new() -> Self {
        let (x, f) = ziggurat_edges();
        Ziggurat {
            f,
            x32: x.map(|v| v as f32),
        }
    }

    /// The candidate draw `|x|` of the 32 random bits `bits` and whether it falls inside its
    /// layer's rectangle (then [`with_sign`] makes it the draw; otherwise see
    /// [`Ziggurat::sample`]).
    #[inline]
    fn rectangle(&self, bits: u32) -> (f32, bool) {
        let i = (bits & 0x7f) as usize;
        let u = (bits >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
        let x = u * self.x32[i];
        (x, x < self.x32[i + 1])
    }

    /// One standard normal draw from the 32 random bits `bits`, drawing more from `rng` only
    /// when they fall outside their rectangle (2.75% of the time).
    #[inline]
    pub(crate) fn sample(&self, mut bits: u32, rng: &mut Rng) -> f32 {
        loop {
            let (x, inside) = self.rectangle(bits);
            if inside {
                return with_sign(x, bits);
            }
            if let Some(y) = self.outside((bits & 0x7f) as usize, x, rng) {
                return with_sign(y, bits);
            }
            bits = rng.next_u64() as u32;
        }
    }

    /// A draw `x` of layer `i` outside its rectangle: a tail draw for the base strip, else `x`
    /// if it falls under the curve in the wedge (`None`: rejected).
    #[cold]
    #[inline(never)]
    fn outside(&self, i: usize, x: f32, rng: &mut Rng) -> Option<f32> {
        if i == 0 {
            return Some(Self::tail(rng) as f32);
        }
        let x = f64::from(x);
        let y = self.f[i] + rng.next_f64() * (self.f[i + 1] - self.f[i]);
        (y < (-0.5 * x * x).exp()).then_some(x as f32)
    }

    /// A draw from the normal tail beyond `R` (Marsaglia's exponential method).
    #[cold]
    fn tail(rng: &mut Rng) -> f64 {
        loop {
            let a = -(1.0 - rng.next_f64()).ln() / ZIG_R;
            let b = -(1.0 - rng.next_f64()).ln();
            if 2.0 * b > a * a {
                return ZIG_R + a;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn normal_moments() {
        let mut rng = Rng::new(1);
        let mut xs = vec![0.0f32; 200_001];
        rng.fill_normal(&mut xs, 1.0, 2.0);
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = xs
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.02, "std {}", var.sqrt());
    }

    /// Standard normal CDF through an erfc approximation (|error| < 1.2e-7).
    fn phi(x: f64) -> f64 {
        let z = x.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.5 * z);
        let erfc = t
            * (-z * z - 1.265_512_23
                + t * (1.000_023_68
                    + t * (0.374_091_96
                        + t * (0.096_784_18
                            + t * (-0.186_288_06
                                + t * (0.278_868_07
                                    + t * (-1.135_203_98
                                        + t * (1.488_515_87
                                            + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
                .exp();
        if x >= 0.0 {
            1.0 - 0.5 * erfc
        } else {
            0.5 * erfc
        }
    }

    #[test]
    fn ziggurat_layers_close_at_zero() {
        let (x, f) = ziggurat_edges();
        // The recursion must land (almost) on x = 0 at the top layer, whose area is V too.
        assert!(x[127] > 0.0 && x[127] < 0.3, "{}", x[127]);
        let top = x[127] * (1.0 - f[127]);
        assert!((top - ZIG_V).abs() < 1e-6, "top layer area {top}");
        assert!(x.windows(2).all(|w| w[0] > w[1]));
        // Rounded to f32, the edges still decrease (every rectangle test is well posed).
        assert!(Ziggurat::new().x32.windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn normal_distribution_matches_the_cdf() {
        let n = 2_000_000;
        let mut draws = vec![0.0f32; n];
        Rng::new(11).fill_normal(&mut draws, 0.0, 1.0);
        let xs: Vec<f64> = draws.iter().map(|&x| f64::from(x)).collect();
        // Kolmogorov–Smirnov-style check on a grid, including the wedges and the tail.
        for &t in &[
            -4.0, -3.5, -3.0, -2.0, -1.3, -0.5, 0.0, 0.3, 1.0, 2.2, 3.44, 4.0,
        ] {
            let emp = xs.iter().filter(|&&x| x <= t).count() as f64 / n as f64;
            let sd = (phi(t) * (1.0 - phi(t)) / n as f64).sqrt().max(1e-6);
            assert!(
                (emp - phi(t)).abs() < 6.0 * sd,
                "at {t}: {emp} vs {}",
                phi(t)
            );
        }
        let beyond = xs.iter().filter(|x| x.abs() > ZIG_R).count() as f64 / n as f64;
        let expected = 2.0 * (1.0 - phi(ZIG_R));
        assert!((beyond - expected).abs() < 6.0 * (expected / n as f64).sqrt());
    }

    #[test]
    fn below_is_in_range_and_shuffle_permutes() {
        let mut rng = Rng::new(3);
        for n in 1..50u64 {
            assert!(rng.below(n) < n);
        }
        let mut xs: Vec<u32> = (0..1000).collect();
        rng.shuffle(&mut xs);
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(xs, sorted);
    }

    /// The normal stream of one seed, pinned: a seed gives the same initial factors on every
    /// platform and build, so an accidental change to the generator or the sampler has to
    /// fail here (a deliberate one updates these values).
    #[test]
    fn normal_stream_is_pinned() {
        let mut xs = [0.0f32; 8];
        Rng::new(42).fill_normal(&mut xs, 0.0, 1.0);
        let bits: Vec<u32> = xs.iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            bits,
            [
                0xbf0b_e797,
                0x3f8a_c0d3,
                0xbf4e_dbcf,
                0x3e6e_9f70,
                0xbdf5_cce6,
                0x3eaf_c303,
                0x3e05_9f37,
                0x400b_c117
            ]
        );
        // A longer stretch, through wedges and the tail: a checksum of the bits.
        let mut long = vec![0.0f32; 100_000];
        Rng::new(7).fill_normal(&mut long, 0.5, 2.0);
        let sum = long
            .iter()
            .fold(0u64, |h, x| h.rotate_left(5) ^ u64::from(x.to_bits()));
        assert_eq!(sum, 0x27f8_5723_6072_67da);
    }
}
