import Jobs
import Runtime
import Simulation
import Storage
import Testing

@testable import Projections

@Suite struct RedisEndpointTests {
    @Test func parsesTheGuideURL() {
        #expect(RedisEndpoint(url: "redis://redis:6379") == RedisEndpoint(host: "redis", port: 6379))
        #expect(
            RedisEndpoint(url: "redis://:secret@127.0.0.1:6400/2")
                == RedisEndpoint(host: "127.0.0.1", port: 6400, password: "secret", database: 2)
        )
        #expect(RedisEndpoint(url: "http://x") == nil)
    }
}
