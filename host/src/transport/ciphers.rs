//! Which cipher sinc asks for first. Both AEADs it offers first are sound;
//! they differ in cost. With AES instructions in the CPU (AES-NI and
//! carry-less multiply on x86-64, the crypto extension on 64-bit ARM),
//! AES-GCM takes a fraction of ChaCha20-Poly1305's time on both ends — ring
//! here, OpenSSL in the server's sshd — which shows on every large transfer.
//! Without them ChaCha20-Poly1305 is the faster one, and stays first, as in
//! OpenSSH's own order.

use russh::cipher::{self, Name};

/// The ciphers to offer, best first.
pub fn order(hardware_aes: bool) -> Vec<Name> {
    let default = russh::Preferred::default().cipher.into_owned();
    if !hardware_aes || !default.contains(&cipher::AES_256_GCM) {
        return default;
    }
    std::iter::once(cipher::AES_256_GCM).chain(default.into_iter().filter(|c| *c != cipher::AES_256_GCM)).collect()
}

/// Whether this CPU has the instructions that make AES-GCM fast.
pub fn hardware_aes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_gcm_leads_only_with_hardware_aes() {
        let default = russh::Preferred::default().cipher.into_owned();
        assert_eq!(order(false), default);
        let fast = order(true);
        assert_eq!(fast[0], cipher::AES_256_GCM);
        assert_eq!(fast[1], cipher::CHACHA20_POLY1305);
        assert_eq!(fast.len(), default.len(), "the same ciphers, only reordered");
    }
}
