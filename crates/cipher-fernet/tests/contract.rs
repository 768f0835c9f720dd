//! The Fernet cipher keeps the shared `FieldCipher` contract.

use fido_cipher_fernet::FernetCipher;

fido_testkit::cipher_contract_tests!(async {
    Box::new(FernetCipher::from_key_list(&FernetCipher::generate_key()).expect("a generated key"))
});
