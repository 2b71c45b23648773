// The KIS minute-chart page (30 rows, as the simulated and the real KIS answer it) read 5,000 times by
// Foundation's JSONSerialization, Foundation's JSONDecoder and the worker's KISJSON. Run from the checkout:
//   swiftc -O benchmarks/kisjson/main.swift Sources/Worker/KIS/KISJSON.swift -o /tmp/kisjson-bench && /tmp/kisjson-bench
import Foundation

var rows: [String] = []
for minute in 0..<30 {
    rows.append(#"{"stck_bsop_date":"20250106","stck_cntg_hour":"09\#(String(format: "%02d", minute))00","stck_prpr":"55100","stck_oprc":"55000","stck_hgpr":"55200","stck_lwpr":"54900","cntg_vol":"12345","acml_tr_pbmn":"0"}"#)
}
let page = Data((#"{"output1":{"stck_prpr":"55100"},"output2":["# + rows.joined(separator: ",") + #"],"rt_cd":"0","msg_cd":"MCA00000","msg1":"정상처리 되었습니다."}"#).utf8)

struct Row: Decodable { let stck_bsop_date, stck_cntg_hour, stck_prpr, stck_oprc, stck_hgpr, stck_lwpr, cntg_vol: String }
struct Answer: Decodable { let rt_cd: String?; let output2: [Row]? }

func measure(_ name: String, _ read: () throws -> Int) rethrows {
    let rounds = 5_000
    let start = Date()
    var rowsRead = 0
    for _ in 0..<rounds { rowsRead += try read() }
    precondition(rowsRead == rounds * 30, "\(name) read \(rowsRead) rows")
    print("\(name): \(String(format: "%.1f", Date().timeIntervalSince(start) / Double(rounds) * 1e6)) µs a page (\(page.count) bytes)")
}

try measure("JSONSerialization") { ((try JSONSerialization.jsonObject(with: page) as? [String: Any])?["output2"] as? [[String: Any]])?.count ?? 0 }
let decoder = JSONDecoder()
try measure("JSONDecoder") { try decoder.decode(Answer.self, from: page).output2?.count ?? 0 }
try measure("KISJSON") { ((try KISJSON.parse(page) as? [String: Any])?["output2"] as? [[String: Any]])?.count ?? 0 }
