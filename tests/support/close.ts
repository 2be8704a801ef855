export * from "../../runtime/compare.ts";
