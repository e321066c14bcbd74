// The data-file JSON reader: what it accepts and how it reports errors.
#include <weft/sim/data_json.hpp>

#include <catch2/catch.hpp>

using namespace weft::sim::data_json;

TEST_CASE("data_json parses objects, arrays, strings, numbers and comments", "[sim][json]") {
  value v;
  std::string why;
  REQUIRE(parse(R"({
    // a comment
    "a": 1.5e3, "b": [true, false, null], "s": "x\"y\\z\u00e9\n",
    "o": {"k": -2}
  })",
                v, &why));
  REQUIRE(v.is(kind::object));
  REQUIRE(v.find("a")->num == 1500.0);
  REQUIRE(v.find("b")->items.size() == 3);
  REQUIRE(v.find("b")->items[2].is(kind::null));
  REQUIRE(v.find("s")->str == "x\"y\\z\xc3\xa9\n");
  REQUIRE(v.find("o")->find("k")->num == -2.0);
  REQUIRE(v.find("missing") == nullptr);
  REQUIRE(v.fields[0].first == "a"); // file order kept
  REQUIRE(v.find("o")->line == 4);
}

TEST_CASE("data_json reports the line and column of a syntax error", "[sim][json]") {
  value v;
  std::string why;
  REQUIRE_FALSE(parse("{\n  \"a\": 1\n  \"b\": 2\n}", v, &why));
  REQUIRE(why.find("line 3") != std::string::npos);
  REQUIRE(why.find("expected ',' or '}'") != std::string::npos);
  REQUIRE_FALSE(parse("{\"a\": 1} x", v, &why));
  REQUIRE(why.find("after the end") != std::string::npos);
  REQUIRE_FALSE(parse("{\"a\": 1, \"a\": 2}", v, &why));
  REQUIRE(why.find("duplicate member \"a\"") != std::string::npos);
  REQUIRE_FALSE(parse("[1, 2", v, &why));
  REQUIRE_FALSE(parse("\"unterminated", v, &why));
  REQUIRE_FALSE(parse("{\"a\": 01x}", v, &why));
  REQUIRE_FALSE(parse("", v, &why));
  REQUIRE_FALSE(parse_file("/nonexistent/weft.json", v, &why));
  REQUIRE(why.find("cannot open") != std::string::npos);
}

TEST_CASE("object_reader checks types, ranges, presence and unknown members", "[sim][json]") {
  value v;
  REQUIRE(parse("{\"n\": 3, \"x\": -1, \"s\": 4, \"typo\": 1}", v));
  std::string err;
  object_reader r(v, "top", &err);
  int n = 0;
  REQUIRE(r.integer("n", n, true, 1, 10));
  REQUIRE(n == 3);
  double x = 0;
  REQUIRE_FALSE(r.number("x", x, true, 0, 1));
  REQUIRE(err.find("top.x = -1 is out of range") != std::string::npos);

  std::string err2;
  object_reader r2(v, "", &err2);
  std::string s;
  REQUIRE_FALSE(r2.string("s", s, true));
  REQUIRE(err2.find("s must be a string, not a number") != std::string::npos);

  std::string err3;
  object_reader r3(v, "", &err3);
  REQUIRE_FALSE(r3.number("absent", x, true, 0, 1));
  REQUIRE(err3.find("missing member \"absent\"") != std::string::npos);

  std::string err4;
  object_reader r4(v, "", &err4);
  r4.integer("n", n, true, 1, 10);
  r4.ignore("x");
  r4.ignore("s");
  REQUIRE_FALSE(r4.finish());
  REQUIRE(err4.find("unknown member \"typo\"") != std::string::npos);
}
