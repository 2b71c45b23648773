import Foundation
import Storage
import TestSupport
import Testing

/// `stockboom stocks import`: the KRX listing into a running engine through its internal route. A file with any
/// bad row imports nothing and names the rows; the same file twice lists each stock once.
@Suite(.serialized) struct StocksImportTests {
    @Test func aListingIsImportedOnceAndABadFileNotAtAll() async throws {
        let directory = TemporaryDirectory("stocks-import")
        let port = freeLoopbackPort()
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = try PostgresConnection.recreateDatabase(
            "sb_test_stocks_import",
            serverURL: try #require(environment["DATABASE_URL"])
        )
        let server = try OperationsTests.startServe(log: directory.file("log"), port: port, environment: environment)
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        let url = "http://127.0.0.1:\(port)"
        #expect(try await OperationsTests.waitFor(url + "/health"))
        environment["STOCKBOOM_SERVER_URL"] = url
        func importing(_ csv: String) async throws -> (Int32, String) {
            let file = directory.file("listing-\(UUID().uuidString).csv")
            try csv.write(toFile: file, atomically: true, encoding: .utf8)
            let (status, output, errors) = try await runStockboom(
                ["stocks", "import", "--dir", directory.file("log"), file],
                environment: environment
            )
            return (status, output + errors)
        }
        func listed() async throws -> String {
            try await runStockboom(["log", "dump", "--dir", directory.file("log")], environment: environment).1
        }

        let hostile = """
            code,name,market,previousClose
            005930,삼성전자,KOSPI,55000
            00066,short code,KOSPI,180000
            035420,"NAVER\u{0007}",KOSPI,200000
            035720,카카오,NASDAQ,40000
            051910,LG화학,KOSPI,99999999999999999999
            068270,셀트리온,KOSPI,-5
            207940,"\u{202E}reversed",KOSPI,800000
            373220,LG에너지솔루션,KOSPI
            """
        let (refused, report) = try await importing(hostile)
        #expect(refused != 0, "\(report)")
        for line in [3, 4, 5, 6, 7, 8, 9] { #expect(report.contains("line \(line):"), "line \(line): \(report)") }
        #expect(!report.contains("line 2:"), "the good row is not reported: \(report)")
        #expect(!(try await listed()).contains("005930"), "a file with a bad row imports nothing")

        let good = "code,name,market,previousClose\n005930,삼성전자,KOSPI,55000\n\"000660\",\"SK하이닉스, 보통주\",KOSPI,180000\n"
        let first = try await importing(good)
        #expect(first.0 == 0 && first.1.contains("2 stock(s) imported"), "\(first)")
        let again = try await importing(good)
        #expect(again.0 == 0, "\(again)")
        let stocks = try await listed()
        #expect(stocks.contains("005930") && stocks.contains("SK하이닉스, 보통주"), "\(stocks)")
        #expect(stocks.components(separatedBy: "StockListed").count - 1 == 2, "each listed once: \(stocks.suffix(800))")

        // The operator role, from the command line with the worker token (the API cannot give it).
        let registered = try await OperationsTests.run(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url + "/api/auth/register", "-H",
                "Content-Type: application/json", "-d",
                #"{"email":"oscar@example.com","password":"an operator's password"}"#,
            ]
        )
        #expect(registered.1 == "201", "\(registered)")
        func role(_ arguments: [String]) async throws -> (Int32, String) {
            let (status, output, errors) = try await runStockboom(
                ["users", "operator"] + arguments + ["--dir", directory.file("log")],
                environment: environment
            )
            return (status, output + errors)
        }
        let granted = try await role(["grant", "user-0000000001"])
        #expect(granted.0 == 0 && granted.1.contains("operator role granted (by cli:"), "\(granted)")
        for bad in [["grant", "user-0000000099"], ["grant", "usr-1\u{0}"], ["promote", "user-0000000001"]] {
            let refused = try await role(bad)
            #expect(refused.0 != 0 && !refused.1.isEmpty, "\(bad): \(refused)")
        }
        #expect((try await listed()).components(separatedBy: "OperatorGranted").count - 1 == 1)
        let revoked = try await role(["revoke", "user-0000000001"])
        #expect(revoked.0 == 0, "\(revoked)")
        #expect((try await listed()).contains("OperatorRevoked"))

        // Without the worker token: refused by the gateway.
        environment["STOCKBOOM_WORKER_TOKEN"] = "not-the-token"
        let foreign = try await importing("005380,현대차,KOSPI,250000\n")
        #expect(foreign.0 != 0, "\(foreign)")
        #expect((try await role(["grant", "user-0000000001"])).0 != 0, "nor is the role given without it")
    }
}
