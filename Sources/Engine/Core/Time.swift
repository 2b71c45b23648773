/// Time in the engine: microseconds since the Unix epoch (UTC), and helpers for Korea Standard Time (UTC+9,
/// no daylight saving). The engine never reads a clock; every time comes from a command or an event.
public enum KST {
    public static let offsetMicros: Int64 = 9 * 3_600_000_000
    public static let dayMicros: Int64 = 86_400_000_000
    public static let minuteMicros: Int64 = 60_000_000

    /// Days since 1970-01-01 of the KST calendar date containing `micros`.
    public static func day(_ micros: Int64) -> Int64 {
        let local = micros + Self.offsetMicros
        return local >= 0 ? local / Self.dayMicros : (local - Self.dayMicros + 1) / Self.dayMicros
    }

    /// Microseconds since KST midnight.
    public static func timeOfDay(_ micros: Int64) -> Int64 {
        micros + Self.offsetMicros - Self.day(micros) * Self.dayMicros
    }

    /// The KST time of day as `HHMMSS`, as KIS writes times.
    public static func hhmmss(_ micros: Int64) -> String {
        let seconds = Self.timeOfDay(micros) / 1_000_000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return two(seconds / 3600) + two(seconds / 60 % 60) + two(seconds % 60)
    }

    /// The UTC instant of `hour:minute` KST on KST day `day`.
    public static func instant(day: Int64, hour: Int64, minute: Int64 = 0) -> Int64 {
        day * Self.dayMicros + (hour * 60 + minute) * Self.minuteMicros - Self.offsetMicros
    }

    /// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
    public static func weekday(day: Int64) -> Int {
        Int(((day % 7) + 7 + 3) % 7)
    }

    /// The civil date of a KST day number.
    public static func date(day: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = day + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(dayOfMonth))
    }

    /// The KST day number of a civil date.
    public static func day(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `YYYYMMDD` as a KST day number (the format of KRX files and the KIS API).
    public static func day(yyyymmdd: some StringProtocol) -> Int64? {
        guard yyyymmdd.utf8.count == 8, let number = Int(yyyymmdd) else { return nil }
        let (year, month, day) = (number / 10_000, number / 100 % 100, number % 100)
        guard (1..<13).contains(month), (1..<32).contains(day) else { return nil }
        return Self.day(year: year, month: month, day: day)
    }

    public static func yyyymmdd(day: Int64) -> String {
        let date = Self.date(day: day)
        return String(date.year * 10_000 + date.month * 100 + date.day)
    }
}

/// KRX trading days and the regular session.
///
/// The regular session is 09:00–15:30 KST on weekdays that are not KRX holidays (orders are accepted from
/// 09:00 inclusive to 15:30 exclusive). The first trading day of a year opens at 10:00. Holidays come from a
/// calendar file (`config/krx-holidays.txt`, one `YYYYMMDD` per line) so operators can add KRX's special
/// closures without a release.
public struct TradingCalendar: Sendable, Equatable {
    public var holidays: Set<Int64>
    /// When set, exactly these days are trading days (backtests over historical data, whose dates are
    /// by definition the days the market was open, including the Saturday sessions KRX held until 1998).
    public var tradingDays: Set<Int64>?
    public var openMinute: Int64 = 9 * 60
    public var closeMinute: Int64 = 15 * 60 + 30

    public init(holidays: Set<Int64> = []) { self.holidays = holidays }

    /// Parses a calendar file: `YYYYMMDD` per line; `#` starts a comment.
    public init(parsing text: String) throws(EngineError) {
        var holidays: Set<Int64> = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.filter { !$0.isWhitespace }
            if trimmed.isEmpty { continue }
            guard let day = KST.day(yyyymmdd: trimmed) else {
                throw EngineError.invalid("calendar line \(number + 1): '\(trimmed)' is not a YYYYMMDD date")
            }
            holidays.insert(day)
        }
        self.init(holidays: holidays)
    }

    public func isTradingDay(_ day: Int64) -> Bool {
        if let tradingDays = self.tradingDays { return tradingDays.contains(day) }
        return KST.weekday(day: day) < 5 && !self.holidays.contains(day)
    }

    /// The session's opening minute of a day (10:00 on the first trading day of a year).
    public func openMinute(day: Int64) -> Int64 {
        let date = KST.date(day: day)
        var first = KST.day(year: date.year, month: 1, day: 1)
        while !self.isTradingDay(first) && first < day { first += 1 }
        return first == day ? 10 * 60 : self.openMinute
    }

    /// True while orders are accepted: a trading day, from the open (inclusive) to 15:30 (exclusive).
    public func isOpen(at micros: Int64) -> Bool {
        let day = KST.day(micros)
        guard self.isTradingDay(day) else { return false }
        let minute = KST.timeOfDay(micros) / KST.minuteMicros
        return minute >= self.openMinute(day: day) && minute < self.closeMinute
    }

    /// The close (15:30 KST) of the day containing `micros`.
    public func close(ofDayContaining micros: Int64) -> Int64 {
        KST.instant(day: KST.day(micros), hour: self.closeMinute / 60, minute: self.closeMinute % 60)
    }

    /// The next trading day after `day`.
    public func nextTradingDay(after day: Int64) -> Int64 {
        var next = day + 1
        while !self.isTradingDay(next) && next < day + 3_660 { next += 1 }
        return next
    }
}
