fn main() {
    let _cli = brisk::config::parse_cli();
}
