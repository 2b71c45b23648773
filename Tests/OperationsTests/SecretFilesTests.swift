import Assembly
import Foundation
import Storage
import TestSupport
import Testing

/// `NAME_FILE` for every secret (Docker secrets): read before anything reads the environment, refused when
/// ambiguous or damaged, never half-read.
@Suite struct SecretFilesTests {
    private func file(_ directory: TemporaryDirectory, _ name: String, _ bytes: [UInt8]) -> String {
        let path = directory.file(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @Test func valuesComeFromFilesAndDamagedOnesAreRefused() throws {
        let directory = TemporaryDirectory("secrets")
        let secret = self.file(directory, "jwt", Array("s3cret-with-=&?\n".utf8))
        let windows = self.file(directory, "key", Array("abcdef\r\n".utf8))
        #expect(
            try SecretFiles.values(["JWT_SECRET_FILE": secret, "STOCKBOOM_SECRETS_KEY_FILE": windows, "OTHER": "x"])
                == ["JWT_SECRET": "s3cret-with-=&?", "STOCKBOOM_SECRETS_KEY": "abcdef"]
        )
        // A name that is not a secret's is not read from a file.
        #expect(try SecretFiles.values(["BCRYPT_COST_FILE": secret]).isEmpty)
        let refused: [(environment: [String: String], says: String)] = [
            (["JWT_SECRET": "a", "JWT_SECRET_FILE": secret], "both JWT_SECRET and JWT_SECRET_FILE"),
            (["JWT_SECRET_FILE": directory.file("missing")], "cannot read"),
            (["JWT_SECRET_FILE": self.file(directory, "empty", Array("\n".utf8))], "is empty"),
            (["JWT_SECRET_FILE": self.file(directory, "nul", [0x61, 0x00, 0x62])], "control characters"),
            (["JWT_SECRET_FILE": self.file(directory, "escape", Array("ab\u{1B}[2J".utf8))], "control characters"),
            (["JWT_SECRET_FILE": self.file(directory, "lines", Array("one\ntwo\n".utf8))], "control characters"),
            (["JWT_SECRET_FILE": self.file(directory, "latin1", [0x61, 0xE9, 0x62])], "not UTF-8"),
            (
                ["JWT_SECRET_FILE": self.file(directory, "huge", [UInt8](repeating: 0x61, count: 70_000))],
                "larger than"
            ),
        ]
        for (environment, says) in refused {
            do {
                _ = try SecretFiles.values(environment)
                Issue.record("\(environment) was accepted")
            } catch {
                #expect(error.description.contains(says), "\(error.description)")
            }
        }
    }

    /// The programs read it before anything else: `db migrate` with `DATABASE_URL_FILE` and no `DATABASE_URL`
    /// connects; an ambiguous secret stops the program before it does anything (exit 78, EX_CONFIG).
    @Test func theProgramsReadSecretFilesFirst() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let database = try PostgresConnection.recreateDatabase("sb_test_secret_files", serverURL: server)
        let directory = TemporaryDirectory("secrets")
        let url = self.file(directory, "database-url", Array((database + "\n").utf8))
        let migrated = try await runStockboom(["db", "migrate"], environment: ["DATABASE_URL_FILE": url])
        #expect(migrated.0 == 0, "\(migrated)")
        let tables = try PostgresConnection(url: database).query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'trades'"
        )
        #expect(tables.rows == [["1"]], "the migration ran against the database the file names")
        let ambiguous = try await runStockboom(
            ["db", "migrate"],
            environment: ["DATABASE_URL_FILE": url, "DATABASE_URL": database]
        )
        #expect(ambiguous.0 == 78)
        #expect((ambiguous.1 + ambiguous.2).contains("both DATABASE_URL and DATABASE_URL_FILE"))
    }
}
