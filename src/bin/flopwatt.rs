//! The `flopwatt` command line: `info`, `bench`, `peak`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flopwatt::device::{enumerate_adapters, DeviceOptions};

#[derive(Parser)]
#[command(name = "flopwatt", version, about = "GPU compute speed and compute per watt, on any vendor through WebGPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List adapters: name, backend, driver, features, limits, and the power source.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { json } => info(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn info(json: bool) -> flopwatt::Result<()> {
    let opts = DeviceOptions::from_env();
    let adapters = enumerate_adapters(&opts)?;
    if adapters.is_empty() {
        return Err(flopwatt::Error::NoAdapter {
            backends: opts.backends.clone(),
            hint: "install a GPU driver, or Mesa's software Vulkan driver with `apt-get install mesa-vulkan-drivers`".into(),
        });
    }
    if json {
        let v = serde_json::json!({ "adapters": adapters });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    for (i, a) in adapters.iter().enumerate() {
        let f = &a.features;
        let l = &a.limits;
        println!("adapter {i}{}: {}", if i == 0 { " (default)" } else { "" }, a.name);
        println!("  backend:      {}", a.backend);
        println!("  driver:       {} {}", a.driver, a.driver_info);
        println!("  device type:  {} (kernel variants: {:?})", a.device_type, a.class);
        println!(
            "  timestamps:   query {}, inside encoders {}, inside passes {} -> timing tier {}",
            yn(f.timestamp_query),
            yn(f.timestamp_inside_encoders),
            yn(f.timestamp_inside_passes),
            f.timing_tier.label()
        );
        println!(
            "  shader f16:   {}   subgroups: {} (size {}..{})",
            yn(f.shader_f16),
            yn(f.subgroup),
            l.min_subgroup_size,
            l.max_subgroup_size
        );
        println!(
            "  limits:       buffer {} MiB, storage binding {} MiB, {} storage buffers/stage",
            l.max_buffer_size >> 20,
            l.max_storage_buffer_binding_size >> 20,
            l.max_storage_buffers_per_shader_stage
        );
        println!(
            "                workgroup: {} invocations, {} KiB shared, {} groups/dim",
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_workgroups_per_dimension
        );
    }
    Ok(())
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
