import Foundation
import Projections
import Storage

/// Settings of the API, read from the environment by `stockboom serve` (see README "Configuration").
public struct GatewayConfiguration: Sendable {
    /// HMAC-SHA256 key for the JWT bearer tokens (`JWT_SECRET`): signs every new token.
    public var jwtSecret: String
    /// The key before the last rotation (`JWT_SECRET_PREVIOUS`): tokens it signed stay valid until they expire,
    /// nothing new is signed with it. Unset it once a token lifetime has passed since the rotation.
    public var previousJWTSecret: String?
    /// How long a token issued at login stays valid.
    public var tokenLifetimeSeconds: Int64 = 12 * 3600
    /// bcrypt cost (work factor 2^cost); 12 in production, lower only in tests.
    public var bcryptCost: UInt8 = 12
    /// 32-byte key that seals broker app keys and secrets at rest (`STOCKBOOM_SECRETS_KEY`, base64 or hex).
    public var secretsKey: [UInt8]
    /// The key before a rotation (`STOCKBOOM_SECRETS_KEY_PREVIOUS`): opens what is not yet re-sealed.
    public var previousSecretsKey: [UInt8]?
    /// Largest accepted request body.
    public var bodyLimitBytes = 64 << 10
    /// Order placements per user: sustained rate and burst (token bucket); beyond them, 429.
    public var ordersPerSecond = 50.0
    public var orderBurst = 100.0
    /// Whether KIS app credentials are configured for the system (`KIS_APP_KEY`).
    public var kisConfigured = false
    /// Sign-ups per client IP and hour (`STOCKBOOM_SIGNUPS_PER_HOUR`); a burst of up to 20 at once.
    public var signUpsPerHour = 20.0
    /// Strategies enabled per user, backtests kept per user (older ones are dropped).
    public var strategiesPerUser = 100
    public var backtestsPerUser = 20
    /// This installation's id, in every token it issues (`serve` keeps it beside the log: see
    /// `Installation`). Random per process unless set.
    public var installationID = randomBytes(16).map { String(format: "%02x", $0) }.joined()

    public init(jwtSecret: String, secretsKey: [UInt8]) {
        precondition(secretsKey.count == 32, "the secrets key is 32 bytes")
        self.jwtSecret = jwtSecret
        self.secretsKey = secretsKey
    }

    /// Errors that stop the server from starting, with what to do about them.
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads `JWT_SECRET`, `STOCKBOOM_SECRETS_KEY`, `BCRYPT_COST`, `STOCKBOOM_ORDER_RATE`, `KIS_APP_KEY` and
    /// `NODE_ENV`/`STOCKBOOM_ENV`.
    ///
    /// In production (`NODE_ENV=production` as in the guide's compose file, or `STOCKBOOM_ENV=production`)
    /// a missing or short `JWT_SECRET` or a missing secrets key refuses to start. Elsewhere a random key is
    /// made per process (tokens and sealed secrets then do not survive a restart) and a warning is returned.
    public static func fromEnvironment(_ environment: [String: String]) throws(Refusal) -> (
        GatewayConfiguration, warnings: [String]
    ) {
        let production = try Self.isProduction(environment)
        var warnings: [String] = []
        let secret: String
        if let given = environment["JWT_SECRET"], !given.isEmpty {
            guard given.utf8.count >= 32 || !production else {
                throw Refusal(
                    description:
                        "JWT_SECRET must be at least 32 characters in production (generate one: openssl rand -base64 48)"
                )
            }
            guard !production || !Self.isWeakSecret(given) else {
                throw Refusal(
                    description:
                        "JWT_SECRET looks like a placeholder or a repeated pattern (fewer than 12 different characters, or words like 'secret'/'change'): generate one with openssl rand -base64 48"
                )
            }
            secret = given
        } else if production {
            throw Refusal(
                description:
                    "JWT_SECRET is not set: the server refuses to start in production without it (generate one: openssl rand -base64 48)"
            )
        } else {
            secret = randomBytes(32).map { String(format: "%02x", $0) }.joined()
            warnings.append("JWT_SECRET is not set: using a random per-process secret (tokens end with the process)")
        }
        let key: [UInt8]
        if let text = environment["STOCKBOOM_SECRETS_KEY"], !text.isEmpty {
            guard let parsed = parseKey(text) else {
                throw Refusal(
                    description:
                        "STOCKBOOM_SECRETS_KEY must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)"
                )
            }
            key = parsed
        } else if production {
            throw Refusal(
                description:
                    "STOCKBOOM_SECRETS_KEY is not set: broker credentials cannot be stored in production without it (openssl rand -base64 32)"
            )
        } else {
            key = randomBytes(32)
            warnings.append(
                "STOCKBOOM_SECRETS_KEY is not set: broker credentials stored now cannot be read after a restart"
            )
        }
        var configuration = GatewayConfiguration(jwtSecret: secret, secretsKey: key)
        if let text = environment["STOCKBOOM_SECRETS_KEY_PREVIOUS"], !text.isEmpty {
            guard let previous = parseKey(text), previous != key else {
                throw Refusal(
                    description:
                        "STOCKBOOM_SECRETS_KEY_PREVIOUS must be the old 32-byte key (64 hex digits or base64), not the current one"
                )
            }
            configuration.previousSecretsKey = previous
        }
        if let previous = environment["JWT_SECRET_PREVIOUS"], !previous.isEmpty {
            guard previous.utf8.count >= 32 || !production else {
                throw Refusal(description: "JWT_SECRET_PREVIOUS must be at least 32 characters in production")
            }
            guard previous != secret else {
                throw Refusal(
                    description:
                        "JWT_SECRET_PREVIOUS is the same as JWT_SECRET: set JWT_SECRET to the new key and JWT_SECRET_PREVIOUS to the old one"
                )
            }
            configuration.previousJWTSecret = previous
        }
        if let cost = environment["BCRYPT_COST"].flatMap(UInt8.init) {
            guard (4...31).contains(cost), cost >= 10 || !production else {
                throw Refusal(description: "BCRYPT_COST must be 10...31 in production (4...31 elsewhere)")
            }
            configuration.bcryptCost = cost
        }
        if let rate = environment["STOCKBOOM_ORDER_RATE"].flatMap(Double.init) {
            guard rate > 0 else {
                throw Refusal(
                    description: "STOCKBOOM_ORDER_RATE must be a positive number of orders per second per user"
                )
            }
            configuration.ordersPerSecond = rate
            configuration.orderBurst = max(configuration.orderBurst, rate * 2)
        }
        if let text = environment["STOCKBOOM_SIGNUPS_PER_HOUR"], !text.isEmpty {
            guard let rate = Double(text), rate > 0 else {
                throw Refusal(
                    description:
                        "STOCKBOOM_SIGNUPS_PER_HOUR must be a positive number of sign-ups per client IP and hour"
                )
            }
            configuration.signUpsPerHour = rate
        }
        configuration.kisConfigured = !(environment["KIS_APP_KEY"] ?? "").isEmpty
        return (configuration, warnings)
    }

    static func parseKey(_ text: String) -> [UInt8]? { SecretBox.parseKey(text) }

    /// `NODE_ENV` / `STOCKBOOM_ENV`, compared without regard to case (`Production` is production). A value
    /// that is none of the known ones refuses to start, rather than silently running in development mode.
    static func isProduction(_ environment: [String: String]) throws(Refusal) -> Bool {
        var production = false
        for name in ["NODE_ENV", "STOCKBOOM_ENV"] {
            guard let raw = environment[name], !raw.isEmpty else { continue }
            switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
            case "production": production = true
            case "development", "test": break
            default: throw Refusal(description: "\(name)=\(raw) is not one of production, development, test")
            }
        }
        return production
    }

    /// A secret that is long but guessable: few different characters, or a placeholder's words.
    static func isWeakSecret(_ secret: String) -> Bool {
        let lowered = secret.lowercased()
        return Set(secret.utf8).count < 12
            || ["secret", "change", "example", "password", "jwt"].contains(where: lowered.contains)
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}
