//! Scoring entry points: `predict`, `top_n` and the `csr_from_coo` index builder.

use funkrs_core::predict::{predict as predict_pairs, predict_raw, ModelView, PredictOptions};
use funkrs_core::topk::{self, Queries, Targets};
use funkrs_core::{Csr, FunkError};
use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::enter::enter;
use crate::index::IdIndex;

type IdsScores<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<f32>>);
type FactorsBias<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f32>>);
type CsrArrays<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u32>>);

fn matrix<'a>(a: &'a PyReadonlyArray2<'_, f32>, name: &str) -> PyResult<(&'a [f32], usize)> {
    let k = a.shape()[1];
    let s = a.as_slice().map_err(|_| {
        crate::errors::funkrs_error("ShapeError", format!("{name} must be C-contiguous"))
    })?;
    Ok((s, k))
}

/// Predicts `(user, item)` pairs given as inner ids (negative = unknown), or, with
/// `indexes=(user_index, item_index)`, as raw int64 ids mapped through those indexes in the
/// same pass (ids missing from an index are unknown).
#[pyfunction]
#[pyo3(signature = (user_factors, item_factors, user_bias, item_bias, global_mean, biased,
    users, items, *, clip=None, unknown_nan=false, n_threads=None, indexes=None))]
pub fn predict<'py>(
    py: Python<'py>,
    user_factors: PyReadonlyArray2<'py, f32>,
    item_factors: PyReadonlyArray2<'py, f32>,
    user_bias: PyReadonlyArray1<'py, f32>,
    item_bias: PyReadonlyArray1<'py, f32>,
    global_mean: f32,
    biased: bool,
    users: PyReadonlyArray1<'py, i64>,
    items: PyReadonlyArray1<'py, i64>,
    clip: Option<(f32, f32)>,
    unknown_nan: bool,
    n_threads: Option<i64>,
    indexes: Option<(Bound<'py, IdIndex>, Bound<'py, IdIndex>)>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let (p, k) = matrix(&user_factors, "user_factors")?;
    let (q, _) = matrix(&item_factors, "item_factors")?;
    let model = ModelView {
        k,
        user_factors: p,
        item_factors: q,
        user_bias: user_bias.as_slice()?,
        item_bias: item_bias.as_slice()?,
        global_mean,
        biased,
    };
    let (u, i) = (users.as_slice()?, items.as_slice()?);
    let opts = PredictOptions { clip, unknown_nan };
    let out = match &indexes {
        None => enter(py, n_threads, |par| predict_pairs(&model, u, i, opts, par))?,
        Some((ui, ii)) => {
            let (ui, ii) = (ui.get().core(), ii.get().core());
            enter(py, n_threads, |par| {
                predict_raw(&model, u, i, ui, ii, opts, par)
            })?
        }
    };
    Ok(out.into_pyarray(py))
}

/// Top-`n` targets per query; returns `(ids, scores)`, both `n_queries × n`, padded with -1/NaN.
#[pyfunction]
#[pyo3(signature = (queries, offsets, targets, target_bias, n, *, exclude=None,
    candidates=None, n_threads=None))]
pub fn top_n<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    offsets: PyReadonlyArray1<'py, f32>,
    targets: PyReadonlyArray2<'py, f32>,
    target_bias: PyReadonlyArray1<'py, f32>,
    n: usize,
    exclude: Option<(
        PyReadonlyArray1<'py, u64>,
        PyReadonlyArray1<'py, u32>,
        PyReadonlyArray1<'py, u32>,
    )>,
    candidates: Option<PyReadonlyArray1<'py, u32>>,
    n_threads: Option<i64>,
) -> PyResult<IdsScores<'py>> {
    let (x, k) = matrix(&queries, "queries")?;
    let (y, k2) = matrix(&targets, "targets")?;
    if k != k2 {
        return Err(crate::errors::invalid_parameter(format!(
            "queries have {k} columns but targets have {k2}"
        )));
    }
    let csr;
    let exclusion = match &exclude {
        Some((indptr, indices, rows)) => {
            csr = Csr {
                indptr: indptr.as_slice()?.to_vec(),
                indices: indices.as_slice()?.to_vec(),
            };
            validate_csr(&csr)?;
            Some((&csr, rows.as_slice()?))
        }
        None => None,
    };
    let q = Queries {
        vectors: x,
        offsets: offsets.as_slice()?,
        exclude: exclusion,
    };
    let t = Targets {
        vectors: y,
        bias: target_bias.as_slice()?,
        candidates: match &candidates {
            Some(c) => Some(c.as_slice()?),
            None => None,
        },
    };
    let n_queries = q.offsets.len();
    let res = enter(py, n_threads, |par| topk::top_n(k, &q, &t, n, par))?;
    let shape_err =
        |e: numpy::ndarray::ShapeError| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    let ids = Array2::from_shape_vec((n_queries, n), res.ids).map_err(shape_err)?;
    let scores = Array2::from_shape_vec((n_queries, n), res.scores).map_err(shape_err)?;
    Ok((ids.into_pyarray(py), scores.into_pyarray(py)))
}

fn validate_csr(csr: &Csr) -> PyResult<()> {
    let ok = !csr.indptr.is_empty()
        && csr.indptr.windows(2).all(|w| w[0] <= w[1])
        && csr.indptr.last().copied() == Some(csr.indices.len() as u64);
    if ok {
        Ok(())
    } else {
        Err(crate::errors::invalid_parameter(
            "exclusion index is malformed (indptr must be non-decreasing and end at len(indices))"
                .into(),
        ))
    }
}

/// Builds a CSR index `(indptr, indices)` of `(rows, cols)` pairs with sorted rows (the rows
/// are sorted on `n_threads` threads; the result does not depend on them).
#[pyfunction]
#[pyo3(
    signature = (rows, cols, n_rows, *, n_threads=Some(1)),
    text_signature = "(rows, cols, n_rows, *, n_threads=1)"
)]
pub fn csr_from_coo<'py>(
    py: Python<'py>,
    rows: PyReadonlyArray1<'py, u32>,
    cols: PyReadonlyArray1<'py, u32>,
    n_rows: usize,
    n_threads: Option<i64>,
) -> PyResult<CsrArrays<'py>> {
    let (r, c) = (rows.as_slice()?, cols.as_slice()?);
    let csr = enter(py, n_threads, |par| {
        if r.len() != c.len() {
            return Err(FunkError::Shape("rows and cols differ in length".into()));
        }
        funkrs_core::data::check_ids("row", r, n_rows)?;
        Ok(Csr::from_coo_in(r, c, n_rows, par))
    })?;
    Ok((csr.indptr.into_pyarray(py), csr.indices.into_pyarray(py)))
}

/// Ridge fold-in of new users; returns `(P_new, b_new)`.
#[pyfunction]
#[pyo3(signature = (item_factors, item_bias, global_mean, biased, indptr, items, ratings, reg,
    *, n_threads=None))]
pub fn fold_in<'py>(
    py: Python<'py>,
    item_factors: PyReadonlyArray2<'py, f32>,
    item_bias: PyReadonlyArray1<'py, f32>,
    global_mean: f32,
    biased: bool,
    indptr: PyReadonlyArray1<'py, u64>,
    items: PyReadonlyArray1<'py, u32>,
    ratings: PyReadonlyArray1<'py, f32>,
    reg: f32,
    n_threads: Option<i64>,
) -> PyResult<FactorsBias<'py>> {
    let (q, k) = matrix(&item_factors, "item_factors")?;
    let model = ModelView {
        k,
        user_factors: &[],
        item_factors: q,
        user_bias: &[],
        item_bias: item_bias.as_slice()?,
        global_mean,
        biased,
    };
    let data = funkrs_core::foldin::UserRatings {
        indptr: indptr.as_slice()?,
        items: items.as_slice()?,
        ratings: ratings.as_slice()?,
    };
    let n = data.indptr.len().saturating_sub(1);
    let (p, b) = enter(py, n_threads, |par| {
        funkrs_core::foldin::fold_in(&model, &data, reg, par)
    })?;
    let p = Array2::from_shape_vec((n, k), p)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok((p.into_pyarray(py), b.into_pyarray(py)))
}

type MergedArrays<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
);

/// The CSR `(indptr, indices)` grown to `n_rows` rows with the pairs `(rows, cols)` added
/// (sorted, distinct); returns `(indptr, indices, counts_before, counts_after)`, the entries
/// per column before and after.
#[pyfunction]
#[pyo3(signature = (indptr, indices, rows, cols, n_rows, n_cols))]
pub fn csr_merge<'py>(
    py: Python<'py>,
    indptr: PyReadonlyArray1<'py, u64>,
    indices: PyReadonlyArray1<'py, u32>,
    rows: PyReadonlyArray1<'py, u32>,
    cols: PyReadonlyArray1<'py, u32>,
    n_rows: usize,
    n_cols: usize,
) -> PyResult<MergedArrays<'py>> {
    let (p, i, r, c) = (
        indptr.as_slice()?,
        indices.as_slice()?,
        rows.as_slice()?,
        cols.as_slice()?,
    );
    let merged = enter(py, Some(1), |_| {
        funkrs_core::data::merge(p, i, r, c, n_rows, n_cols)
    })?;
    Ok((
        merged.csr.indptr.into_pyarray(py),
        merged.csr.indices.into_pyarray(py),
        merged.counts_before.into_pyarray(py),
        merged.counts_after.into_pyarray(py),
    ))
}
