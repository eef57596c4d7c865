//! Weighted linear least squares: the fits minimise relative error, so a latency-bound
//! point counts as much as a bandwidth-bound one.

/// Solves `min sum ((x_i . c) / y_i - 1)^2` for `c`; `None` when the columns are
/// degenerate (too few distinct points).
pub fn relative_least_squares(xs: &[Vec<f64>], ys: &[f64]) -> Option<Vec<f64>> {
    let k = xs.first()?.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (x, &y) in xs.iter().zip(ys) {
        if y <= 0.0 {
            continue;
        }
        for i in 0..k {
            for j in 0..k {
                a[i][j] += x[i] * x[j] / (y * y);
            }
            a[i][k] += x[i] / y;
        }
    }
    solve(a)
}

/// Gauss-Jordan elimination with partial pivoting on the augmented matrix.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    for i in 0..n {
        let p = (i..n).max_by(|&r, &s| a[r][i].abs().total_cmp(&a[s][i].abs()))?;
        a.swap(i, p);
        let scale = a[i].iter().map(|v| v.abs()).fold(0.0, f64::max);
        if a[i][i].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            return None;
        }
        for r in 0..n {
            if r != i {
                let f = a[r][i] / a[i][i];
                let row_i = a[i].clone();
                for (v, w) in a[r].iter_mut().zip(row_i) {
                    *v -= f * w;
                }
            }
        }
    }
    Some((0..n).map(|i| a[i][n] / a[i][i]).collect())
}

/// Largest and root-mean-square relative error of `model` against `measured`, percent.
pub fn errors(model: &[f64], measured: &[f64]) -> (f64, f64) {
    let rel: Vec<f64> = model
        .iter()
        .zip(measured)
        .map(|(m, y)| if *y > 0.0 { (m / y - 1.0).abs() } else { 0.0 })
        .collect();
    let max = rel.iter().cloned().fold(0.0, f64::max);
    let rms = (rel.iter().map(|r| r * r).sum::<f64>() / rel.len().max(1) as f64).sqrt();
    (max * 100.0, rms * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_line_exactly() {
        let xs: Vec<Vec<f64>> = (1..6).map(|i| vec![1.0, i as f64]).collect();
        let ys: Vec<f64> = (1..6).map(|i| 3.0 + 2.0 * i as f64).collect();
        let c = relative_least_squares(&xs, &ys).unwrap();
        assert!((c[0] - 3.0).abs() < 1e-9 && (c[1] - 2.0).abs() < 1e-9);
        let same: Vec<Vec<f64>> = vec![vec![1.0, 1.0]; 3];
        assert_eq!(relative_least_squares(&same, &[1.0, 1.0, 1.0]), None);
        assert_eq!(errors(&[1.1, 1.0], &[1.0, 1.0]).0.round(), 10.0);
    }
}
