public import Prometheus

extension MetricNameDescriptor {
    /// A metric's name and its `# HELP` line.
    public static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

extension PrometheusCollectorRegistry {
    /// The operator guide's process gauges: `process_cpu_usage_percent` (since the previous call, percent of
    /// one core) and `process_memory_usage_bytes` (resident).
    public func recordProcessUsage(_ usage: ProcessUsage) {
        self.makeGauge(
            descriptor: .named(
                "process_cpu_usage_percent",
                "CPU used by this process since the last scrape, percent of one core."
            )
        ).set(usage.cpuPercent())
        self.makeGauge(descriptor: .named("process_memory_usage_bytes", "Resident memory of this process."))
            .set(usage.residentBytes())
    }
}
