//! Splitting a sweep across machines: shard `i` of `n` (0-based) runs the cells whose
//! index is `i` modulo `n`, so every shard gets a similar mix of the grid. The index is
//! given with `--shard I/N`, or read from a Slurm job array (`SLURM_ARRAY_TASK_ID`,
//! `SLURM_ARRAY_TASK_COUNT`, offset by `SLURM_ARRAY_TASK_MIN`) or a Kubernetes Indexed
//! Job (`JOB_COMPLETION_INDEX`, with the count in `MEMWALL_SHARD_COUNT`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parse `I/N` (0 <= I < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: write I/N with 0 <= I < N, e.g. 0/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether cell `index` belongs to this shard.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// The shard named by the environment, if any: Slurm job arrays, then Kubernetes
    /// Indexed Jobs. `get` reads a variable (std::env::var in production).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let num = |k: &str| -> Result<Option<usize>, String> {
            match get(k) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{k}={v:?} is not a whole number")),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: run as a job array (sbatch --array=0-N)",
            )?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id
                .checked_sub(min)
                .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
            if count == 0 || index >= count {
                return Err(format!(
                    "Slurm array task {id} (min {min}) is not below the task count {count}: use a contiguous array such as --array=0-{}",
                    count.saturating_sub(1)
                ));
            }
            return Ok(Some(Shard { index, count }));
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("MEMWALL_SHARD_COUNT")?.ok_or(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but MEMWALL_SHARD_COUNT is not: set it to the Job's completions",
            )?;
            if count == 0 || index >= count {
                return Err(format!(
                    "JOB_COMPLETION_INDEX {index} is not below MEMWALL_SHARD_COUNT {count}"
                ));
            }
            return Ok(Some(Shard { index, count }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(v: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = v
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn parse_and_own() {
        let s = Shard::parse("1/3").unwrap();
        assert!(s.owns(1) && s.owns(4) && !s.owns(0));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn slurm_and_k8s() {
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]));
        assert_eq!(s.unwrap(), Some(Shard { index: 2, count: 3 }));
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]));
        assert_eq!(s.unwrap(), Some(Shard { index: 1, count: 3 }));
        let s = Shard::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("MEMWALL_SHARD_COUNT", "4"),
        ]));
        assert_eq!(s.unwrap(), Some(Shard { index: 0, count: 4 }));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    }
}
