/// The version of this build: `stockboom --version`, `/health` and the `stockboom_build_info` metric.
public enum BuildInfo {
    /// Raised with each release; the minor number follows the issues landed.
    public static let version = "0.22.0"
    /// The Swift compiler that built it.
    public static let compiler: String = {
        #if swift(>=6.3)
            "6.3"
        #elseif swift(>=6.2)
            "6.2"
        #else
            "older"
        #endif
    }()
}
