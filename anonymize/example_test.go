package anonymize_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"haze/anonymize"
)

func ExampleNewPseudonymizer() {
	dir, err := os.MkdirTemp("", "haze-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keyring.json"), []string{"crm"})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := ring.Key("crm")
	if err != nil {
		fmt.Println(err)
		return
	}

	// Tokens depend on the random key, so only their properties are shown.
	p := anonymize.NewPseudonymizer(key)
	token := p.Token("alice@example.com")
	fmt.Println("length:", len(token))
	fmt.Println("same value, same token:", token == p.Token("  alice@example.com "))
	fmt.Println("case matters by default:", token == p.Token("Alice@Example.com"))
	fmt.Println("other value, other token:", token != p.Token("bob@example.com"))
	fmt.Println("token holds the value:", strings.Contains(token, "alice"))
	// Output:
	// length: 22
	// same value, same token: true
	// case matters by default: false
	// other value, other token: true
	// token holds the value: false
}

func ExamplePolicy_Compile() {
	// Mask needs no key: the zero Key will do.
	card := anonymize.Policy{Action: anonymize.ActionMask, KeepFirst: 6, KeepLast: 4}
	tr, err := card.Compile(anonymize.Key{}, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	masked, err := tr.Value("4111 1111-1111 1234")
	fmt.Println(masked, err)
	_, err = tr.Value("4111 1111")
	fmt.Println(err)

	email := anonymize.Policy{Action: anonymize.ActionMask, Format: "email"}
	tr, err = email.Compile(anonymize.Key{}, time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	domain, err := tr.Value("Zoë.Müller@Mail.Example.ORG")
	fmt.Println(domain, err)

	tooMuch := anonymize.Policy{Action: anonymize.ActionMask, KeepFirst: 8}
	_, err = tooMuch.Compile(anonymize.Key{}, time.Now())
	fmt.Println(err)
	// Output:
	// 411111******1234 <nil>
	// mask: card number must have 12 to 19 digits
	// mail.example.org <nil>
	// keep_first must be 0 to 6 (PCI DSS), got 8
}

func ExampleInitKeyring() {
	dir, err := os.MkdirTemp("", "haze-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keys", "keyring.json")

	created, err := anonymize.InitKeyring(path, []string{"crm", "loyalty"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = anonymize.InitKeyring(path, []string{"crm"})
	fmt.Println("second init refused:", errors.Is(err, anonymize.ErrKeyringExists))

	loaded, err := anonymize.LoadKeyring(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := created.Key("crm")
	b, _ := loaded.Key("crm")
	fmt.Println(loaded.Names())
	fmt.Println("same ID after load:", a.ID() == b.ID())
	fmt.Println("ID names the key:", strings.HasPrefix(b.ID(), "crm:"))
	// Output:
	// second init refused: true
	// [crm loyalty]
	// same ID after load: true
	// ID names the key: true
}

func ExampleEncrypter_Decrypt() {
	dir, err := os.MkdirTemp("", "haze-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ring, err := anonymize.InitKeyring(filepath.Join(dir, "keyring.json"), []string{"crm"})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, err := ring.Key("crm")
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := anonymize.NewEncrypter(key)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Tokens depend on the random key, so only their properties are shown.
	token, err := e.Token("  PAX123456789 ")
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := e.Token("PAX123456789")
	fmt.Println("prefix:", strings.HasPrefix(token, anonymize.EncryptPrefix))
	fmt.Println("same value, same token:", token == again)
	value, err := e.Decrypt(token)
	fmt.Printf("decrypted: %q %v\n", value, err)
	_, err = e.Decrypt(token[:len(token)-1])
	fmt.Println("altered token refused:", errors.Is(err, anonymize.ErrBadToken))
	// Output:
	// prefix: true
	// same value, same token: true
	// decrypted: "PAX123456789" <nil>
	// altered token refused: true
}
