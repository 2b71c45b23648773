/// Daily bars in the layout of KRX daily files (as data vendors export them):
/// `date,open,high,low,close,volume[,ticker,code,name,interval]`, dates `YYYYMMDD`, prices integer KRW.
public struct DailyBarsCSV: Sendable {
    public var stock: StockCode
    public var name: String
    public var bars: [Candle]

    /// Bars from elsewhere (e.g. a log's candles); `stock` and `name` describe the first stock.
    public init(stock: StockCode, name: String, bars: [Candle]) {
        self.stock = stock
        self.name = name
        self.bars = bars
    }

    /// Parses the file. Every row must be well formed and dates strictly increasing: a bad row is an error
    /// naming its line, never skipped.
    public init(parsing text: String, defaultStock: StockCode = StockCode(value: 0)) throws(EngineError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first else { throw .invalid("the CSV file is empty") }
        let columns = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.lowercased() }
        func column(_ name: String) throws(EngineError) -> Int {
            guard let index = columns.firstIndex(of: name) else {
                throw .invalid("the CSV header has no '\(name)' column (line 1: \(header))")
            }
            return index
        }
        let date = try column("date")
        let open = try column("open")
        let high = try column("high")
        let low = try column("low")
        let close = try column("close")
        let volume = try column("volume")
        let codeColumn = columns.firstIndex(of: "code")
        let nameColumn = columns.firstIndex(of: "name")
        self.stock = defaultStock
        self.name = ""
        self.bars = []
        self.bars.reserveCapacity(lines.count)
        var previousDay: Int64 = .min
        for (index, line) in lines.enumerated().dropFirst() {
            let number = index + 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= columns.count else {
                throw .invalid("line \(number): \(fields.count) fields, the header has \(columns.count)")
            }
            guard let day = KST.day(yyyymmdd: fields[date]) else {
                throw .invalid("line \(number): '\(fields[date])' is not a YYYYMMDD date")
            }
            guard day > previousDay else {
                throw .invalid("line \(number): \(fields[date]) is not after the previous row's date")
            }
            previousDay = day
            func integer(_ column: Int, _ what: String) throws(EngineError) -> Int64 {
                guard let value = Int64(fields[column]) else {
                    throw .invalid("line \(number): \(what) '\(fields[column])' is not an integer")
                }
                return value
            }
            if index == 1 {
                if let codeColumn, let code = StockCode(fields[codeColumn]) { self.stock = code }
                if let nameColumn { self.name = String(fields[nameColumn]) }
            }
            let bar = Candle(
                stock: self.stock,
                timeframe: .day1,
                start: KST.instant(day: day, hour: 0),
                open: try integer(open, "open"),
                high: try integer(high, "high"),
                low: try integer(low, "low"),
                close: try integer(close, "close"),
                volume: try integer(volume, "volume")
            )
            do {
                try bar.validate()
            } catch {
                throw .invalid("line \(number): \(error.message)")
            }
            self.bars.append(bar)
        }
        guard !self.bars.isEmpty else { throw .invalid("the CSV file has a header but no rows") }
    }

    /// Every bar's date as a trading day (for backtests over history).
    public var tradingDays: Set<Int64> { Set(self.bars.map { KST.day($0.start) }) }
}
