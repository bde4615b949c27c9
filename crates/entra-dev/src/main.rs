//! `entra-dev`: the development issuer's command-line interface (DEVELOPMENT ONLY).

fn main() {}
