//! The fleet bench: `mpirun -np 2 flopwatt bench --json` writes one report with both ranks'
//! rows and per-workload totals that add the ranks up. Without `mpirun` on the PATH the test
//! says so and passes, unless `FLOPWATT_REQUIRE_MPI` is set (CI sets it).
#![cfg(all(feature = "mpi", not(target_arch = "wasm32")))]

use std::process::Command;

#[test]
fn two_ranks_write_one_report_with_totals() {
    let has_mpirun = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("mpirun").is_file()));
    if !has_mpirun {
        assert!(
            std::env::var_os("FLOPWATT_REQUIRE_MPI").is_none(),
            "FLOPWATT_REQUIRE_MPI is set but mpirun is not on the PATH"
        );
        eprintln!("SKIPPED: no mpirun on the PATH (apt-get install openmpi-bin)");
        return;
    }
    let out = std::env::temp_dir().join(format!("flopwatt-fleet-{}.json", std::process::id()));
    let o = Command::new("mpirun")
        .args(["-np", "2", "--oversubscribe"])
        .arg(env!("CARGO_BIN_EXE_flopwatt"))
        .args([
            "bench",
            "--filter",
            "sum-4096",
            "--min-time",
            "0",
            "--no-peak",
        ])
        // A fixed power figure: every rank then has energy figures, all of them estimates.
        .args(["--watts", "10", "--json"])
        .arg(&out)
        .env("FLOPWATT_MPI_TIMEOUT", "120")
        // Containers and CI run as root; Open MPI refuses that unless told twice.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("rank 0: adapter") && text.contains("rank 1: adapter"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(v["schema"], "flopwatt-fleet/1");
    assert_eq!(v["ranks"], 2);
    let ranks = v["per_rank"].as_array().unwrap();
    assert_eq!(ranks.len(), 2);
    let gflops = |r: usize| ranks[r]["report"]["results"][0]["gflops"].as_f64().unwrap();
    let watts = |r: usize| {
        ranks[r]["report"]["results"][0]["avg_watts"]
            .as_f64()
            .unwrap()
    };
    for (r, rank) in ranks.iter().enumerate() {
        assert_eq!(rank["rank"], r);
        assert!(rank["host"].as_str().is_some_and(|h| !h.is_empty()));
        assert!(rank["report"]["device"]["name"].is_string());
        assert_eq!(rank["report"]["results"][0]["id"], "sum-4096");
    }
    let t = &v["totals"][0];
    assert_eq!(t["id"], "sum-4096");
    assert_eq!(t["ranks"], 2);
    let sum = gflops(0) + gflops(1);
    assert!(
        (t["gflops_sum"].as_f64().unwrap() - sum).abs() <= 1e-9 * sum,
        "{t}"
    );
    assert_eq!(t["gflops_min"].as_f64().unwrap(), gflops(0).min(gflops(1)));
    let w = watts(0) + watts(1);
    assert!(
        (t["watts_sum"].as_f64().unwrap() - w).abs() <= 1e-9 * w,
        "{t}"
    );
    let gpj = t["gflop_per_joule"].as_f64().unwrap();
    assert!((gpj - sum / w).abs() <= 1e-9 * gpj, "{t}");
    assert_eq!(t["energy"], "estimate", "--watts is not a measurement: {t}");
    assert!(t["spread_pct"].as_f64().unwrap() >= 0.0);
}
