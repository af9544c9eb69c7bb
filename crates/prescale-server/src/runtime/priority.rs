//! The CPU priority of the compute threads.
//!
//! Forecast fits and SLO mode's re-tunes are throughput work; KEDA's calls are latency work.
//! On a pod with two cores, a re-tune that keeps one core busy delayed GetMetrics by a
//! scheduler slice (p99 3.0 ms in the serve bench); under `SCHED_IDLE` the kernel runs the
//! compute threads only when no other thread of the machine wants the core, and a waking
//! request thread preempts them at once (p99 0.59 ms in the same bench, as many re-tunes done).

/// Lowers the calling thread to `SCHED_IDLE` when `idle` is set (Linux; elsewhere nothing).
/// A refusal (a seccomp profile, say) is logged and the thread keeps its priority.
pub(super) fn lower_if(idle: bool) {
    if !idle {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            policy,
        ) {
            tracing::warn!(error = ?e, "Could not lower a compute thread to SCHED_IDLE; it keeps its priority.");
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };

    #[test]
    fn a_compute_thread_runs_under_sched_idle_and_only_when_asked() {
        let policy = |idle| {
            std::thread::spawn(move || {
                super::lower_if(idle);
                thread_schedule_policy().unwrap()
            })
            .join()
            .unwrap()
        };
        assert_eq!(
            policy(true),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        assert_eq!(
            policy(false),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }
}
