/// Builds strategies by name from `key=value,…` parameters.
public enum StrategyFactory {
    public static let names = ["ma-cross", "rsi-reversion"]

    /// `rules`: the source of a `rule:<name>` strategy's version (the engine's `ruleSets`).
    public static func make(name: String, parameters: String, rules: String? = nil) throws(EngineError)
        -> any Strategy
    {
        if Self.ruleName(name) != nil {
            guard let rules else { throw .invalid("\(name) needs its rule set") }
            do { return RuleStrategy(name: name, rules: try RuleSet(parsing: rules)) } catch {
                throw .invalid("\(name): \(error)")
            }
        }
        let values = try Self.parse(parameters)
        switch name {
        case "ma-cross": return try MovingAverageCross(parameters: values)
        case "rsi-reversion": return try RSIReversion(parameters: values)
        default: throw .invalid("unknown strategy '\(name)' (known: \(Self.names.joined(separator: ", ")))")
        }
    }

    /// The rule set's name of a `rule:<name>` strategy; nil for a built-in one.
    public static func ruleName(_ strategy: String) -> String? {
        strategy.hasPrefix("rule:") ? String(strategy.dropFirst(5)) : nil
    }

    /// The version of `user`'s rule set `name` that `parameters` (`version=N`, or nothing: the newest) names, and
    /// its source: what enabling it pins, what the worker and a backtest run.
    public static func ruleSet(_ name: String, of user: UserID, parameters: String, in state: EngineState)
        throws(EngineError) -> (version: Int64, source: String)
    {
        let versions = state.ruleSets[user]?[name] ?? []
        guard !versions.isEmpty else { throw .notFound("\(user) has no rule set named '\(name)'") }
        let asked = try Self.parse(parameters)
        guard asked.keys.allSatisfy({ $0 == "version" }) else { throw .invalid("a rule strategy takes only version=N") }
        let version = asked["version"] ?? Int64(versions.count)
        guard (1...Int64(versions.count)).contains(version) else {
            throw .notFound("'\(name)' has versions 1 to \(versions.count); \(version) asked")
        }
        return (version, versions[Int(version - 1)])
    }

    /// A rule set's name: 1–40 of a–z, 0–9 and '-', starting with a letter or digit.
    public static func checkRuleName(_ name: String) throws(EngineError) {
        let allowed = name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
        guard (1...40).contains(name.utf8.count), allowed, name.utf8.first != 45 else {
            throw .invalid("a rule set's name is 1 to 40 of a-z, 0-9 and '-', not starting with '-'; got '\(name)'")
        }
    }

    public static func parse(_ text: String) throws(EngineError) -> [String: Int64] {
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
