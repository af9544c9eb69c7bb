//! GPU metrics straight from the NVIDIA driver (NVML), for nodes without a DCGM exporter.
//! Behind the `nvml` cargo feature.
//!
//! `libnvidia-ml.so` is loaded at run time (by `nvml-wrapper`), so building needs no NVIDIA
//! library; without a driver, [`NvmlSource::new`] fails with a typed `unreachable` error. The
//! readings are exposed under the DCGM exporter's names (`DCGM_FI_DEV_GPU_UTIL`,
//! `DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_FB_FREE`, `DCGM_FI_DEV_GPU_TEMP`, labels `gpu`, `UUID`,
//! `modelName`), so that the same PromQL and GPU summary apply to both.

use chrono::Utc;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;

use crate::Source;
use crate::error::{CollectError, SourceKind};
use crate::metrics::{CollectorMetrics, observe};
use crate::series::{Labels, Sample, Series};

const SRC: SourceKind = SourceKind::Nvml;

/// One GPU's current state.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuReading {
    /// The NVML device index.
    pub index: u32,
    /// The GPU's UUID.
    pub uuid: String,
    /// The product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// GPU utilization over the driver's last sample period, in percent.
    pub utilization_percent: f64,
    /// Framebuffer memory used, in MiB.
    pub memory_used_mib: f64,
    /// Framebuffer memory free, in MiB.
    pub memory_free_mib: f64,
    /// GPU die temperature, in °C.
    pub temperature_celsius: f64,
}

/// The GPUs of this node, read through NVML.
pub struct NvmlSource {
    nvml: Nvml,
    metrics: Option<CollectorMetrics>,
}

impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlSource").finish_non_exhaustive()
    }
}

impl NvmlSource {
    /// Loads `libnvidia-ml` and initialises NVML.
    pub fn new() -> Result<Self, CollectError> {
        let nvml = Nvml::init().map_err(|e| error("libnvidia-ml", &e))?;
        Ok(Self {
            nvml,
            metrics: None,
        })
    }

    /// Counts requests and errors in `metrics` from now on.
    #[must_use]
    pub fn with_metrics(mut self, metrics: CollectorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Reads every GPU.
    pub fn read(&self) -> Result<Vec<GpuReading>, CollectError> {
        observe(self.metrics.as_ref(), SRC, self.read_inner())
    }

    fn read_inner(&self) -> Result<Vec<GpuReading>, CollectError> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| error("device count", &e))?;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        (0..count)
            .map(|i| {
                let place = format!("gpu {i}");
                let d = self
                    .nvml
                    .device_by_index(i)
                    .map_err(|e| error(&place, &e))?;
                let memory = d.memory_info().map_err(|e| error(&place, &e))?;
                Ok(GpuReading {
                    index: i,
                    uuid: d.uuid().map_err(|e| error(&place, &e))?,
                    name: d.name().map_err(|e| error(&place, &e))?,
                    utilization_percent: f64::from(
                        d.utilization_rates().map_err(|e| error(&place, &e))?.gpu,
                    ),
                    memory_used_mib: mib(memory.used),
                    memory_free_mib: mib(memory.free),
                    temperature_celsius: f64::from(
                        d.temperature(TemperatureSensor::Gpu)
                            .map_err(|e| error(&place, &e))?,
                    ),
                })
            })
            .collect()
    }
}

/// Readings as series under the DCGM exporter's names.
#[must_use]
pub fn gpu_series(gpus: &[GpuReading]) -> Vec<Series> {
    let timestamp = Utc::now();
    let mut out = Vec::new();
    for g in gpus {
        for (name, value) in [
            ("DCGM_FI_DEV_GPU_UTIL", g.utilization_percent),
            ("DCGM_FI_DEV_FB_USED", g.memory_used_mib),
            ("DCGM_FI_DEV_FB_FREE", g.memory_free_mib),
            ("DCGM_FI_DEV_GPU_TEMP", g.temperature_celsius),
        ] {
            let labels: Labels = [
                ("__name__", name.to_owned()),
                ("gpu", g.index.to_string()),
                ("UUID", g.uuid.clone()),
                ("modelName", g.name.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            out.push(Series::new(labels, vec![Sample { timestamp, value }]));
        }
    }
    out
}

impl Source for NvmlSource {
    fn kind(&self) -> SourceKind {
        SRC
    }

    fn describe(&self) -> String {
        "nvml (local GPUs)".into()
    }

    async fn collect(&self) -> Result<Vec<Series>, CollectError> {
        Ok(gpu_series(&self.read()?))
    }
}

fn error(place: &str, e: &NvmlError) -> CollectError {
    match e {
        NvmlError::LibloadingError(_)
        | NvmlError::DriverNotLoaded
        | NvmlError::LibraryNotFound
        | NvmlError::GpuLost
        | NvmlError::Uninitialized => CollectError::Unreachable {
            origin: SRC,
            place: place.to_owned(),
            reason: e.to_string(),
        },
        NvmlError::NoPermission => CollectError::Unauthorized {
            origin: SRC,
            place: place.to_owned(),
            reason: e.to_string(),
        },
        NvmlError::Timeout => CollectError::Timeout {
            origin: SRC,
            place: place.to_owned(),
            after: std::time::Duration::ZERO,
        },
        other => CollectError::bad(SRC, place, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_use_the_dcgm_names() {
        let g = GpuReading {
            index: 0,
            uuid: "GPU-1".into(),
            name: "NVIDIA H200".into(),
            utilization_percent: 87.0,
            memory_used_mib: 1024.0,
            memory_free_mib: 2048.0,
            temperature_celsius: 61.0,
        };
        let series = gpu_series(&[g]);
        assert_eq!(series.len(), 4);
        assert_eq!(series[0].name(), Some("DCGM_FI_DEV_GPU_UTIL"));
        assert_eq!(series[0].labels["modelName"], "NVIDIA H200");
        assert_eq!(series[3].samples[0].value, 61.0);
    }

    /// On a machine without an NVIDIA driver this is the typed `unreachable` error; with one,
    /// the readings must be physically plausible.
    #[test]
    fn reads_the_local_gpus_or_reports_the_missing_driver() {
        match NvmlSource::new() {
            Err(e) => {
                assert_eq!(e.kind(), "unreachable", "{e}");
                assert!(e.to_string().starts_with("nvml at libnvidia-ml"), "{e}");
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("no NVIDIA driver here: {e}\n").as_bytes(),
                );
            }
            Ok(source) => {
                let gpus = source.read().expect("readings");
                assert!(!gpus.is_empty());
                for g in gpus {
                    assert!((0.0..=100.0).contains(&g.utilization_percent), "{g:?}");
                    assert!(g.memory_used_mib + g.memory_free_mib > 1024.0, "{g:?}");
                    assert!((1.0..120.0).contains(&g.temperature_celsius), "{g:?}");
                    assert!(g.uuid.starts_with("GPU-"), "{g:?}");
                }
            }
        }
    }
}
