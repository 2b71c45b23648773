import Hummingbird

enum Dashboard {
    static func register(_ routes: RouteTable, _ services: GatewayServices) {}
}
