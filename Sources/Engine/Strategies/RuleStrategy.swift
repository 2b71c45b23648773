import Foundation

/// Strategies as data: a small rule format a person writes and the engine checks, with no code run.
///
/// ```
/// # buy the dip in an uptrend
/// entry: rsi_14 < 30 and close > sma_200
/// exit: rsi_14 > 70 or close crosses_below sma_20@5m
/// stop: 3%
/// target: 6%
/// trail: 2%
/// size: 10% equity          # or: 1000000 krw, or: 10 shares
/// ```
///
/// One `key: value` per line, `#` starts a comment. `entry` is required; the rest are optional (`size`
/// defaults to 10 shares). Expressions: numbers (`30`, `1.5`, `2%` = 0.02), indicators by `IndicatorKey`
/// name (`rsi_14`, `sma_20@5m`, `close`, `highest_20`), the holding's `avg_price`, `quantity`, `cash`,
/// `equity`; `+ - * /`; `< <= > >= == !=`; `crosses_above` / `crosses_below` (this bar and the one before);
/// `and`, `or`, `not`, parentheses. A value still warming up makes its comparison false.
///
/// Entry buys when flat with no working order (with `stop`/`target`/`trail` as a bracket the engine watches);
/// exit sells the position. Mistakes are refused with their line and column.
public struct RuleSet: Sendable, Hashable {
    public var entry: RuleExpression
    public var exit: RuleExpression?
    public var exits: ExitPlan
    public var sizing: OrderSizing
    /// The indicators the expressions read, in order of first use (their slots in the context).
    public var indicators: [IndicatorKey]
    /// How many `crosses_…` the expressions hold (each remembers its operands on the bar before).
    public var memories: Int
    /// Sources are at most this long.
    public static let maxBytes = 4_096
    /// Rule sets (names) a person keeps, and versions of one name: checked by the engine, which decides one
    /// command at a time, so two definitions at once cannot both pass a cap with one place left.
    public static let maxPerUser = 50
    public static let maxVersions = 200

    /// Parses and checks `source`.
    public init(parsing source: String) throws(RuleError) {
        guard source.utf8.count <= Self.maxBytes else {
            throw RuleError(line: 1, column: 1, message: "a rule set is at most \(Self.maxBytes) bytes")
        }
        var entry: RuleExpression?
        var exit: RuleExpression?
        var exits = ExitPlan()
        var sizing = OrderSizing.shares(10)
        var seen: Set<String> = []
        var indicators: [IndicatorKey] = []
        var memories = 0
        for (number, rawLine) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = number + 1
            let text = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard !text.allSatisfy(\.isWhitespace) else { continue }
            guard let colon = text.firstIndex(of: ":") else {
                throw RuleError(
                    line: line,
                    column: 1,
                    message: "expected 'key: value' (entry, exit, stop, target, trail, size)"
                )
            }
            let key = text[..<colon].trimmingWhitespace()
            let valueColumn = text.distance(from: text.startIndex, to: colon) + 2
            let value = text[text.index(after: colon)...]
            // Where a plain value (a percentage, a size) starts, for its mistakes.
            let firstColumn = valueColumn + value.prefix(while: \.isWhitespace).count
            guard seen.insert(key).inserted else {
                throw RuleError(line: line, column: 1, message: "'\(key)' is given twice")
            }
            switch key {
            case "entry", "exit":
                var parser = RuleParser(
                    text: value,
                    line: line,
                    column: valueColumn,
                    indicators: indicators,
                    memories: memories
                )
                let expression = try parser.parseAll()
                indicators = parser.indicators
                memories = parser.memories
                if key == "entry" { entry = expression } else { exit = expression }
            case "stop", "target", "trail":
                let bp = try Self.percent(value, line: line, column: firstColumn)
                let range: ClosedRange<Int64> = key == "trail" ? 10...5_000 : key == "stop" ? 1...9_999 : 1...100_000
                guard range.contains(bp) else {
                    throw RuleError(
                        line: line,
                        column: firstColumn,
                        message:
                            "\(key) must be \(Double(range.lowerBound) / 100)% to \(Double(range.upperBound) / 100)%"
                    )
                }
                switch key {
                case "stop": exits.stopLoss = bp
                case "target": exits.takeProfit = bp
                default: exits.trail = bp
                }
            case "size":
                sizing = try Self.size(value, line: line, column: firstColumn)
            default:
                throw RuleError(
                    line: line,
                    column: 1,
                    message: "unknown key '\(key)' (known: entry, exit, stop, target, trail, size)"
                )
            }
        }
        guard let entry else { throw RuleError(line: 1, column: 1, message: "an 'entry:' line is required") }
        self.entry = entry
        self.exit = exit
        self.exits = exits
        self.sizing = sizing
        self.indicators = indicators
        self.memories = memories
    }

    /// `3%` or `3.5 %` in basis points.
    static func percent(_ text: Substring, line: Int, column: Int) throws(RuleError) -> Int64 {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasSuffix("%"), let value = Double(trimmed.dropLast().trimmingWhitespace()), value.isFinite,
            value > 0, value <= 1_000
        else { throw RuleError(line: line, column: column, message: "expected a percentage like 3% or 2.5%") }
        return Int64((value * 100).rounded())
    }

    static func size(_ text: Substring, line: Int, column: Int) throws(RuleError) -> OrderSizing {
        let words = text.split(whereSeparator: \.isWhitespace)
        let usage = "expected a size like '10% equity', '1000000 krw' or '10 shares'"
        guard words.count == 2 || (words.count == 1 && words[0].hasSuffix("%")) else {
            throw RuleError(line: line, column: column, message: usage)
        }
        switch words.count == 1 ? "equity" : words[1].lowercased() {
        case "equity":
            let bp = try Self.percent(words[0], line: line, column: column)
            guard (1...10_000).contains(bp) else {
                throw RuleError(line: line, column: column, message: "size must be 0.01% to 100% of equity")
            }
            return .percentOfEquity(basisPoints: bp)
        case "krw":
            guard let krw = Int64(words[0].filter { $0 != "," && $0 != "_" }), (1...Bounds.maxAmount).contains(krw)
            else {
                throw RuleError(line: line, column: column, message: "size in KRW must be 1 to \(Bounds.maxAmount)")
            }
            return .amount(krw)
        case "shares", "share":
            guard let shares = Int64(words[0].filter { $0 != "," && $0 != "_" }),
                (1...Bounds.maxQuantity).contains(shares)
            else {
                throw RuleError(
                    line: line,
                    column: column,
                    message: "size in shares must be 1 to \(Bounds.maxQuantity)"
                )
            }
            return .shares(shares)
        default: throw RuleError(line: line, column: column, message: usage)
        }
    }
}

/// A mistake in a rule set, where it is.
public struct RuleError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    /// `line 0`: a mistake of the whole (a template's parameters), not of a place in the text.
    public var description: String {
        self.line == 0 ? self.message : "line \(self.line), column \(self.column): \(self.message)"
    }
}

/// A rule set with placeholders for a parameter search: `{name}` stands for a whole number the grid (or
/// `--params`) gives, e.g. `entry: rsi_{n} < {level}` with `n=7,14;level=20..40:5`. Only the command line's
/// search and backtest fill them in; what is stored and enabled is always a plain rule set.
public struct RuleTemplate: Sendable, Hashable {
    public var source: String
    /// The placeholders' names, in order of first appearance.
    public var placeholders: [String]

    public init(_ source: String) throws(RuleError) {
        self.source = source
        var names: [String] = []
        for (index, line) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var rest = line[...]
            while let open = rest.firstIndex(of: "{") {
                let column = line.distance(from: line.startIndex, to: open) + 1
                guard let close = rest[open...].firstIndex(of: "}") else {
                    throw RuleError(line: index + 1, column: column, message: "'{' without its '}'")
                }
                let name = String(rest[rest.index(after: open)..<close])
                guard !name.isEmpty, name.count <= 40, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "_") })
                else {
                    throw RuleError(line: index + 1, column: column, message: "'{\(name)}' is not a placeholder name")
                }
                if !names.contains(name) { names.append(name) }
                rest = rest[rest.index(after: close)...]
            }
        }
        self.placeholders = names
    }

    /// The rule set with every placeholder replaced by its value in `parameters` (`name=value,…`); refused when
    /// a placeholder has no value, a value is not a whole number, or a parameter names no placeholder.
    public func filled(_ parameters: String) throws(RuleError) -> String {
        var values: [String: Int64] = [:]
        for pair in parameters.split(separator: ",") where !pair.allSatisfy(\.isWhitespace) {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Int64(parts[1]) else {
                throw RuleError(line: 0, column: 0, message: "parameter '\(pair)' is not name=whole number")
            }
            guard self.placeholders.contains(parts[0]) else {
                throw RuleError(line: 0, column: 0, message: "the rule set has no placeholder {\(parts[0])}")
            }
            values[parts[0]] = value
        }
        var text = self.source
        for name in self.placeholders {
            guard let value = values[name] else {
                throw RuleError(line: 0, column: 0, message: "placeholder {\(name)} has no value")
            }
            text = text.replacingOccurrences(of: "{\(name)}", with: String(value))
        }
        return text
    }
}

/// A parsed expression. Values are `Double`; comparisons and logic are 1 or 0; nil is "not known yet" (an
/// indicator warming up) and makes a comparison false.
public indirect enum RuleExpression: Sendable, Hashable {
    case number(Double)
    /// The i-th of `RuleSet.indicators`.
    case indicator(Int)
    case holding(HoldingField)
    case negate(RuleExpression)
    case not(RuleExpression)
    case binary(RuleOperator, RuleExpression, RuleExpression)
    /// `crosses_above` / `crosses_below`, with the index of its memory of the previous bar.
    case crosses(above: Bool, RuleExpression, RuleExpression, memory: Int)

    public enum HoldingField: String, Sendable, Hashable, CaseIterable {
        case avgPrice = "avg_price"
        case quantity, cash, equity
    }
}

public enum RuleOperator: String, Sendable, Hashable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case equal = "=="
    case notEqual = "!="
    case and, or
}

/// Recursive descent over one line: or → and → not → comparison → sum → product → unary → primary.
struct RuleParser {
    private let characters: [Character]
    private var position = 0
    private let line: Int
    private let column: Int
    private(set) var indicators: [IndicatorKey]
    private(set) var memories: Int
    private var depth = 0
    /// Operators so far: a chain like `close + close + …` nests no parentheses but still builds a tree as deep as
    /// it is long, which evaluation, hashing and release walk recursively.
    private var operators = 0

    init(text: Substring, line: Int, column: Int, indicators: [IndicatorKey], memories: Int) {
        self.characters = Array(text)
        self.line = line
        self.column = column
        self.indicators = indicators
        self.memories = memories
    }

    private func error(_ message: String, at position: Int? = nil) -> RuleError {
        RuleError(line: self.line, column: self.column + (position ?? self.position), message: message)
    }

    mutating func parseAll() throws(RuleError) -> RuleExpression {
        var counter = self.memories
        let expression = try self.parseOr(&counter)
        self.memories = counter
        self.skipSpaces()
        guard self.position == self.characters.count else {
            throw self.error("unexpected '\(self.characters[self.position])'")
        }
        return expression
    }

    private mutating func skipSpaces() {
        while self.position < self.characters.count, self.characters[self.position].isWhitespace { self.position += 1 }
    }

    /// The next word (letters, digits, `_`, `@`) without consuming it.
    private mutating func peekWord() -> String {
        self.skipSpaces()
        var end = self.position
        while end < self.characters.count,
            self.characters[end].isLetter || self.characters[end].isNumber || self.characters[end] == "_"
                || self.characters[end] == "@"
        {
            end += 1
        }
        return String(self.characters[self.position..<end])
    }

    private mutating func take(_ symbol: String) -> Bool {
        self.skipSpaces()
        let symbolCharacters = Array(symbol)
        guard self.position + symbolCharacters.count <= self.characters.count,
            Array(self.characters[self.position..<self.position + symbolCharacters.count]) == symbolCharacters
        else { return false }
        self.position += symbolCharacters.count
        return true
    }

    private mutating func counted() throws(RuleError) {
        self.operators += 1
        guard self.operators <= 256 else { throw self.error("expression too long (at most 256 operators)") }
    }

    private mutating func nested() throws(RuleError) {
        self.depth += 1
        guard self.depth <= 32 else { throw self.error("expression nested too deeply (at most 32 levels)") }
    }

    private mutating func parseOr(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        var left = try self.parseAnd(&memory)
        while self.peekWord() == "or" {
            self.position += 2
            try self.counted()
            left = .binary(.or, left, try self.parseAnd(&memory))
        }
        return left
    }

    private mutating func parseAnd(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        var left = try self.parseNot(&memory)
        while self.peekWord() == "and" {
            self.position += 3
            try self.counted()
            left = .binary(.and, left, try self.parseNot(&memory))
        }
        return left
    }

    private mutating func parseNot(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        if self.peekWord() == "not" {
            self.position += 3
            try self.nested()
            defer { self.depth -= 1 }
            return .not(try self.parseNot(&memory))
        }
        return try self.parseComparison(&memory)
    }

    private mutating func parseComparison(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        let left = try self.parseSum(&memory)
        for op in [RuleOperator.lessOrEqual, .greaterOrEqual, .equal, .notEqual, .less, .greater]
        where self.take(op.rawValue) {
            return .binary(op, left, try self.parseSum(&memory))
        }
        let word = self.peekWord()
        if word == "crosses_above" || word == "crosses_below" {
            self.position += word.count
            let right = try self.parseSum(&memory)
            defer { memory += 1 }
            return .crosses(above: word == "crosses_above", left, right, memory: memory)
        }
        return left
    }

    private mutating func parseSum(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        var left = try self.parseProduct(&memory)
        while true {
            if self.take("+") {
                try self.counted()
                left = .binary(.add, left, try self.parseProduct(&memory))
            } else if self.peekSymbol("-") {
                self.position += 1
                try self.counted()
                left = .binary(.subtract, left, try self.parseProduct(&memory))
            } else {
                return left
            }
        }
    }

    private mutating func peekSymbol(_ symbol: Character) -> Bool {
        self.skipSpaces()
        return self.position < self.characters.count && self.characters[self.position] == symbol
    }

    private mutating func parseProduct(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        var left = try self.parseUnary(&memory)
        while true {
            if self.take("*") {
                try self.counted()
                left = .binary(.multiply, left, try self.parseUnary(&memory))
            } else if self.take("/") {
                try self.counted()
                left = .binary(.divide, left, try self.parseUnary(&memory))
            } else {
                return left
            }
        }
    }

    private mutating func parseUnary(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        if self.take("-") {
            try self.nested()
            defer { self.depth -= 1 }
            return .negate(try self.parseUnary(&memory))
        }
        return try self.parsePrimary(&memory)
    }

    private mutating func parsePrimary(_ memory: inout Int) throws(RuleError) -> RuleExpression {
        self.skipSpaces()
        let start = self.position
        guard self.position < self.characters.count else {
            throw self.error("expected a value, found the end of the line")
        }
        if self.take("(") {
            try self.nested()
            let inner = try self.parseOr(&memory)
            self.depth -= 1
            guard self.take(")") else {
                throw self.error("expected ')' to close the '(' at column \(self.column + start)")
            }
            return inner
        }
        let character = self.characters[self.position]
        if character.isNumber || character == "." {
            var end = self.position
            while end < self.characters.count, self.characters[end].isNumber || self.characters[end] == "." { end += 1 }
            let text = String(self.characters[self.position..<end])
            guard let value = Double(text), value.isFinite, text.count <= 20 else {
                throw self.error("'\(text)' is not a number")
            }
            self.position = end
            if self.take("%") { return .number(value / 100) }
            return .number(value)
        }
        let word = self.peekWord()
        guard !word.isEmpty else { throw self.error("unexpected '\(character)'") }
        if ["and", "or", "not", "crosses_above", "crosses_below"].contains(word) {
            throw self.error("expected a value before '\(word)'")
        }
        if let field = RuleExpression.HoldingField(rawValue: word) {
            self.position += word.count
            return .holding(field)
        }
        let key: IndicatorKey
        do { key = try IndicatorKey(parsing: word) } catch { throw self.error(error.message, at: start) }
        self.position += word.count
        if let slot = self.indicators.firstIndex(of: key) { return .indicator(slot) }
        guard self.indicators.count < 32 else { throw self.error("at most 32 different indicators", at: start) }
        self.indicators.append(key)
        return .indicator(self.indicators.count - 1)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String { Substring(self).trimmingWhitespace() }
}

/// A rule set run as a strategy (`rule:<name>`).
public struct RuleStrategy: Strategy {
    public let name: String
    public let rules: RuleSet
    public var indicators: [IndicatorKey] { self.rules.indicators }
    /// Each `crosses_…`'s operands on the previous bar.
    private var previous: [(Double?, Double?)]
    private var current: [(Double?, Double?)]

    public init(name: String, rules: RuleSet) {
        self.name = name
        self.rules = rules
        self.previous = Array(repeating: (nil, nil), count: rules.memories)
        self.current = self.previous
    }

    public mutating func onBar(_ context: StrategyContext) -> [StrategyIntent] {
        // Both expressions are evaluated every bar, so their crossings remember the bar before.
        let entry = self.evaluate(self.rules.entry, context) ?? 0
        let exit = self.rules.exit.map { self.evaluate($0, context) ?? 0 } ?? 0
        self.previous = self.current
        if entry != 0, context.holding.quantity == 0, context.holding.workingOrders.isEmpty {
            return [
                .buy(
                    self.rules.sizing,
                    exits: self.rules.exits.isEmpty ? nil : self.rules.exits,
                    reason: "entry rule held at close \(context.bar.close)"
                )
            ]
        }
        if exit != 0, context.holding.sellable > 0 {
            return [.sell(reason: "exit rule held at close \(context.bar.close)")]
        }
        return []
    }

    private mutating func evaluate(_ expression: RuleExpression, _ context: StrategyContext) -> Double? {
        switch expression {
        case .number(let value): return value
        case .indicator(let slot): return context.market.value(slot: slot)
        case .holding(let field):
            switch field {
            case .avgPrice: return Double(context.holding.averagePrice)
            case .quantity: return Double(context.holding.quantity)
            case .cash: return Double(context.holding.cash)
            case .equity: return Double(context.holding.equity)
            }
        case .negate(let x): return self.evaluate(x, context).map { -$0 }
        case .not(let x):
            guard let value = self.evaluate(x, context) else { return nil }
            return value == 0 ? 1 : 0
        case .crosses(let above, let a, let b, let memory):
            let left = self.evaluate(a, context)
            let right = self.evaluate(b, context)
            self.current[memory] = (left, right)
            guard let left, let right, let before = self.previous[memory].0, let beforeRight = self.previous[memory].1
            else { return nil }
            return above
                ? (before <= beforeRight && left > right ? 1 : 0) : (before >= beforeRight && left < right ? 1 : 0)
        case .binary(let op, let a, let b):
            if op == .and || op == .or {
                // Both sides always evaluated: a crossing on the right keeps its memory whatever the left says.
                let left = self.evaluate(a, context)
                let right = self.evaluate(b, context)
                let l = (left ?? 0) != 0
                let r = (right ?? 0) != 0
                return (op == .and ? l && r : l || r) ? 1 : 0
            }
            guard let left = self.evaluate(a, context), let right = self.evaluate(b, context) else { return nil }
            let value: Double
            switch op {
            case .add: value = left + right
            case .subtract: value = left - right
            case .multiply: value = left * right
            case .divide:
                guard right != 0 else { return nil }
                value = left / right
            case .less: value = left < right ? 1 : 0
            case .lessOrEqual: value = left <= right ? 1 : 0
            case .greater: value = left > right ? 1 : 0
            case .greaterOrEqual: value = left >= right ? 1 : 0
            case .equal: value = left == right ? 1 : 0
            case .notEqual: value = left != right ? 1 : 0
            case .and, .or: value = 0  // handled above
            }
            return value.isFinite ? value : nil
        }
    }
}
