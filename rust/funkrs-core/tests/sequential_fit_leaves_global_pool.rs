//! A fit on `Par::Seq` runs on the calling thread only: it must not start rayon's global pool
//! (the crate promises never to use it implicitly). Its own test binary, so that no other test
//! can have started the global pool first.

use funkrs_core::{sgd, Interactions, NoMonitor, Par, SgdParams};

#[test]
fn sequential_fit_does_not_start_the_global_pool() {
    let (n_users, n_items) = (40usize, 30usize);
    let (mut us, mut is, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for u in 0..n_users as u32 {
        for i in (u % 3..n_items as u32).step_by(3) {
            us.push(u);
            is.push(i);
            rs.push(1.0 + ((u + i) % 5) as f32);
        }
    }
    let data = Interactions::new(&us, &is, &rs, n_users, n_items).unwrap();
    let params = SgdParams {
        n_factors: 4,
        n_epochs: 2,
        n_blocks: Some(3),
        ..SgdParams::surprise()
    };
    sgd::fit(&data, &params, Par::Seq, &mut NoMonitor).unwrap();
    // Building the global pool succeeds only if nothing has started it yet: the one way to
    // ask rayon whether it exists, hence the exception to the crate's lint.
    #[allow(clippy::disallowed_methods)]
    let untouched = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .is_ok();
    assert!(untouched, "the sequential fit started rayon's global pool");
}
