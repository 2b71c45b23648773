/// Builds strategies by name from `key=value,…` parameters.
public enum StrategyFactory {
    public static let names = ["ma-cross", "rsi-reversion"]

    public static func make(name: String, parameters: String) throws(EngineError) -> any Strategy {
        let values = try Self.parse(parameters)
        switch name {
        case "ma-cross": return try MovingAverageCross(parameters: values)
        case "rsi-reversion": return try RSIReversion(parameters: values)
        default: throw .invalid("unknown strategy '\(name)' (known: \(Self.names.joined(separator: ", ")))")
        }
    }

    static func parse(_ text: String) throws(EngineError) -> [String: Int64] {
        var values: [String: Int64] = [:]
        for pair in text.split(separator: ",") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let value = Int64(parts[1].filter { !$0.isWhitespace }) else {
                throw .invalid("strategy parameter '\(pair)' is not key=integer")
            }
            values[parts[0].filter { !$0.isWhitespace }] = value
        }
        return values
    }
}
