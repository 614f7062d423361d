/**
 * The logger never writes a character a terminal or viewer acts on (issue 12 item 11), in either
 * format, and the JSON format still carries the exact value. Through the executable:
 * test/e2e/attack-small.test.ts.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../src/log/logger.ts";

const HOSTILE: Record<string, string> = {
  nul: "\u0000",
  esc: "\u001b[2J",
  del: "\u007f",
  c1_csi: "\u009b31m",
  c1_nel: "\u0085",
  line_separator: "\u2028",
  paragraph_separator: "\u2029",
  arabic_letter_mark: "\u061c",
  lrm: "\u200e",
  rlm: "\u200f",
  rlo: "\u202e",
  lre: "\u202a",
  rli: "\u2067",
  pdi: "\u2069",
};
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function logged(format: "text" | "json", value: string): string {
  const lines: string[] = [];
  createLogger(format, (line) => void lines.push(line)).event("probe", { value });
  return lines[0]!;
}

test.each(Object.entries(HOSTILE))("%s is escaped in text and JSON, and JSON keeps the exact value", (_name, chars) => {
  const value = `a${chars}b`;
  const text = logged("text", value);
  const json = logged("json", value);
  expect(RAW.test(text)).toBe(false);
  expect(RAW.test(json)).toBe(false);
  expect(text).toStartWith('icecore: probe value="a\\u');
  expect(JSON.parse(json).value).toBe(value);
  expect(JSON.parse(text.slice("icecore: probe value=".length))).toBe(value);
});

test("plain values stay as they were: unquoted in text, unchanged in JSON", () => {
  expect(logged("text", "/usr/bin/python3.11")).toBe("icecore: probe value=/usr/bin/python3.11");
  expect(logged("text", "two words")).toBe('icecore: probe value="two words"');
  expect(JSON.parse(logged("json", "héllo ✓ 中文")).value).toBe("héllo ✓ 中文");
  expect(logged("json", "héllo ✓ 中文")).toContain("héllo ✓ 中文");
});
