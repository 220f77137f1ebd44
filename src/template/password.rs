//! `new_password()` in a body template: an initial password of the account's own, random, so no
//! two accounts (and nobody ever onboarded) share one. slack-im never stores it and never prints
//! it: each one made while a member's bodies render is collected, travels with that member's write,
//! and is redacted from whatever the target answers about that write.

use std::cell::RefCell;

use crate::secret::Secret;

/// Letters and digits, without the look-alikes `0 O 1 l I`: read off a screen, typed by hand.
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 20 characters of 57: about 116 bits.
const LENGTH: usize = 20;

thread_local! {
    /// The passwords made on this thread since the last [`take`]: one member's renders.
    static MADE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The template function: a fresh password with a lower-case letter, an upper-case letter and a
/// digit (what most password rules ask).
pub(super) fn new_password() -> Result<String, minijinja::Error> {
    use ring::rand::SecureRandom;
    let random = ring::rand::SystemRandom::new();
    let no_randomness = || {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "new_password(): the system has no randomness",
        )
    };
    // 256 is not a multiple of 57: a byte at or above the last whole multiple is skipped, so every
    // character is equally likely (one byte in nine is skipped).
    let limit = 256 - 256 % ALPHABET.len();
    // Bounded: a password lacks one of the three classes about 1 time in 20; 64 all lacking one
    // is chance below 10^-80. 64 random bytes give 20 characters but with odds below 10^-20.
    for _ in 0..64 {
        let mut password = String::with_capacity(LENGTH);
        for _ in 0..4 {
            let mut bytes = [0u8; 64];
            random.fill(&mut bytes).map_err(|_| no_randomness())?;
            let usable = bytes.iter().filter(|&&b| usize::from(b) < limit);
            for &b in usable.take(LENGTH - password.len()) {
                password.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
            if password.len() == LENGTH {
                break;
            }
        }
        let classes = [char::is_ascii_lowercase, char::is_ascii_uppercase, char::is_ascii_digit];
        if password.len() == LENGTH && classes.iter().all(|class| password.chars().any(|c| class(&c))) {
            MADE.with(|made| made.borrow_mut().push(password.clone()));
            return Ok(password);
        }
    }
    Err(no_randomness())
}

/// The passwords made on this thread since the last call, wrapped; the list starts empty again.
pub fn take() -> Vec<Secret<String>> {
    MADE.with(|made| made.borrow_mut().drain(..).map(Secret::new).collect())
}

/// Whether `text` holds a password made on this thread and not taken yet (a template error must
/// not quote the line that holds it).
pub(super) fn in_text(text: &str) -> bool {
    MADE.with(|made| made.borrow().iter().any(|p| text.contains(p.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_passwords_in_a_row_never_fail_and_never_repeat() {
        let _ = take();
        let made: std::collections::HashSet<String> = (0..10_000).map(|_| new_password().unwrap()).collect();
        assert_eq!(made.len(), 10_000);
        assert_eq!(take().len(), 10_000);
    }

    #[test]
    fn every_password_is_new_twenty_characters_of_three_classes_and_is_collected() {
        let _ = take();
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_ne!(a, b);
        for p in [&a, &b] {
            assert_eq!(p.len(), LENGTH);
            assert!(p.bytes().all(|c| ALPHABET.contains(&c)), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(|c| c.is_ascii_uppercase()));
        }
        assert!(in_text(&format!("x{a}y")));
        let taken = take();
        assert_eq!(taken.iter().map(|s| s.expose().as_str()).collect::<Vec<_>>(), [a.as_str(), b.as_str()]);
        assert!(take().is_empty() && !in_text(&a));
    }
}
