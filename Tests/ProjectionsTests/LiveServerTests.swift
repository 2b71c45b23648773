import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import Testing

@testable import Projections

/// Connection settings for the throwaway servers that `make test` starts. A missing variable is a failure,
/// never a skip: these tests must always run.
enum LiveServers {
    static func databaseURL() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment["DATABASE_URL"],
            "DATABASE_URL is unset: run the tests with `make test`"
        )
    }

    static func redisEndpoint() throws -> RedisEndpoint {
        let url = try #require(
            ProcessInfo.processInfo.environment["REDIS_URL"],
            "REDIS_URL is unset: run the tests with `make test`"
        )
        return try #require(RedisEndpoint(url: url))
    }
}

@Suite(.serialized) struct PostgresConnectionTests {
    @Test func parametersAreBoundNeverSpliced() throws {
        let connection = try PostgresConnection(url: try LiveServers.databaseURL())
        try connection.execute(
            "DROP TABLE IF EXISTS pc_test; CREATE TABLE pc_test (id int PRIMARY KEY, name text, price bigint)"
        )
        let hostile = "x'); DROP TABLE pc_test; --"
        try connection.query("INSERT INTO pc_test VALUES ($1, $2, $3)", ["1", hostile, "71000"])
        try connection.query("INSERT INTO pc_test VALUES ($1, $2, $3)", ["2", nil, "9223372036854775807"])
        let rows = try connection.query("SELECT id, name, price FROM pc_test ORDER BY id")
        #expect(rows.columns == ["id", "name", "price"])
        #expect(rows.rows == [["1", hostile, "71000"], ["2", nil, "9223372036854775807"]])
        try connection.execute("DROP TABLE pc_test")
    }

    @Test func errorsCarrySQLState() throws {
        let connection = try PostgresConnection(url: try LiveServers.databaseURL())
        try connection.execute("DROP TABLE IF EXISTS pc_unique; CREATE TABLE pc_unique (id int PRIMARY KEY)")
        try connection.query("INSERT INTO pc_unique VALUES ($1)", ["1"])
        do {
            try connection.query("INSERT INTO pc_unique VALUES ($1)", ["1"])
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.sqlState == "23505")
        }
        do {
            try connection.query("SELECT * FROM no_such_table")
            Issue.record("a missing table was accepted")
        } catch {
            #expect(error.sqlState == "42P01")
            #expect(error.message.contains("no_such_table"))
        }
        try connection.execute("DROP TABLE pc_unique")
    }

    @Test func copyLoadsRowsInBulk() throws {
        let connection = try PostgresConnection(url: try LiveServers.databaseURL())
        try connection.execute("DROP TABLE IF EXISTS pc_copy; CREATE TABLE pc_copy (n int, payload jsonb)")
        var text = ""
        for index in 0..<10_000 { text += "\(index)\t{\"type\":\"CandleClosed\",\"n\":\(index)}\n" }
        #expect(try connection.copyIn("COPY pc_copy FROM STDIN", data: Array(text.utf8)) == 10_000)
        let sum = try connection.query("SELECT count(*), sum((payload->>'n')::bigint) FROM pc_copy")
        #expect(sum.rows == [["10000", "49995000"]])
        try connection.execute("DROP TABLE pc_copy")
    }

    @Test func badConnectionStringsFailClearly() {
        #expect(throws: PostgresError.self) {
            _ = try PostgresConnection(url: "postgresql://postgres@127.0.0.1:1/none")
        }
    }
}

@Suite(.serialized) struct RedisConnectionTests {
    /// The throwaway Redis of `make test` requires a password, as the compose file's does (issue 17, finding 3:
    /// anyone who reached Redis could rewrite the queues): a client without it is refused every command.
    @Test func theThrowawayRedisRequiresAPassword() throws {
        var endpoint = try LiveServers.redisEndpoint()
        #expect(endpoint.password?.isEmpty == false, "REDIS_URL carries a password")
        endpoint.password = nil
        let reply = try? RedisConnection(endpoint: endpoint, timeoutSeconds: 2).command(["GET", "anything"])
        guard case .error(let message)? = reply else {
            Issue.record("a client without the password was answered: \(String(describing: reply))")
            return
        }
        #expect(message.contains("NOAUTH"), "\(message)")
    }

    @Test func binarySafeCommandsAndPipelines() throws {
        let redis = try RedisConnection(endpoint: try LiveServers.redisEndpoint())
        let key = "test:binary:\(getpid())"
        let value: [UInt8] = [0, 13, 10, 255, 32, 0]
        #expect(try redis.command(bytes: [Array("SET".utf8), Array(key.utf8), value]) == .status("OK"))
        #expect(try redis.command(["GET", key]) == .string(value))
        let replies = try redis.pipeline(
            (0..<100).map { [Array("RPUSH".utf8), Array("\(key):list".utf8), Array("\($0)".utf8)] }
        )
        #expect(replies.last == .integer(100))
        #expect(try redis.command(["LLEN", "\(key):list"]) == .integer(100))
        #expect(try redis.command(["GET", "\(key):missing"]) == .null)
        if case .error(let message) = try redis.command(["INCR", key]) {
            #expect(message.contains("not an integer"))
        } else {
            Issue.record("INCR on a binary string must be an error reply")
        }
        _ = try redis.command(["DEL", key, "\(key):list"])
    }

    @Test func unreachableServerFailsClearly() {
        #expect(throws: RedisError.self) {
            _ = try RedisConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1))
        }
    }
}
