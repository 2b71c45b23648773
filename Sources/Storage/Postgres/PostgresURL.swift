/// The operator guide's `DATABASE_URL` carries Prisma's `connection_limit` (`…/db?connection_limit=20`), which libpq
/// refuses ("invalid URI query parameter"). It is taken as the size of the process's query pool and removed before
/// the URL reaches libpq; every other parameter goes to libpq as written (which names the ones it does not know).
public enum PostgresURL {
    public static let connectionLimitKey = "connection_limit"

    /// `url` without `connection_limit`, and the limit (nil when absent). A limit that is not a whole number in
    /// 1...1000 is refused with a message naming it.
    public static func split(_ url: String) throws(PostgresError) -> (url: String, connectionLimit: Int?) {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"),
            let question = url.firstIndex(of: "?")
        else { return (url, nil) }
        let fragment = url[question...].firstIndex(of: "#")
        let query = url[url.index(after: question)..<(fragment ?? url.endIndex)]
        var kept: [Substring] = []
        var limit: Int?
        for item in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts[0] == Self.connectionLimitKey else {
                kept.append(item)
                continue
            }
            let text = parts.count == 2 ? String(parts[1]) : ""
            guard let value = Int(text), (1...1_000).contains(value) else {
                throw PostgresError(
                    sqlState: nil,
                    message:
                        "DATABASE_URL: connection_limit must be a whole number of connections in 1...1000; got '\(text.prefix(20))'"
                )
            }
            limit = value
        }
        var result = String(url[..<question])
        if !kept.isEmpty { result += "?" + kept.joined(separator: "&") }
        if let fragment { result += url[fragment...] }
        return (result, limit)
    }
}
