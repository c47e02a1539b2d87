package synth

import (
	"strings"
	"unicode/utf8"
)

// culture selects the name lists a passenger's names come from.
type culture uint8

const (
	cultureEnglish culture = iota
	cultureSingapore
	cultureGerman
	cultureFrench
	cultureSpanish
	cultureDutch
	cultureNordic
	culturePolish
	cultureItalian
	cultureVietnamese
	cultureChinese
	cultureJapanese
	cultureArabic
	cultureIndian
	cultureTurkish
	cultureThai
	numCultures
)

// name is a name as written and its ASCII form for email addresses.
type name struct {
	text  string
	ascii string
}

// nameLists are the names of one culture.
type nameLists struct {
	female, male, last []name
}

// names holds the lists by culture. Latin-script lists are written as
// plain strings and folded to ASCII when the package loads; others carry
// their romanisation, separated by "|".
var names [numCultures]nameLists

// nameSuffixes are appended, after a comma, to a few English last names.
var nameSuffixes = []string{", Jr.", ", Sr.", ", III"}

// nicknames are quoted inside a few English first names in dirty exports.
var nicknames = []string{` "Bob"`, ` "Kate"`, ` "Mac"`}

func init() {
	set := func(c culture, female, male, last string) {
		names[c] = nameLists{parseNames(female), parseNames(male), parseNames(last)}
	}
	set(cultureEnglish,
		"Emma,Olivia,Sophie,Charlotte,Amelia,Grace,Zoë,Siobhán,Niamh,Sarah,Emily,Hannah,Chloe,Megan",
		"James,Oliver,Jack,Harry,William,Thomas,George,Liam,Noah,Ethan,Seán,Daniel,Michael,Ryan",
		"Smith,Jones,Taylor,Brown,Williams,Wilson,Johnson,Davies,Robinson,Wright,O'Brien,"+
			"O'Connor,McDonald,Murphy,Kelly,Walsh,Anderson,Clarke,Hughes,Evans,Baker")
	set(cultureSingapore,
		"Wei Ling|weiling,Hui Min|huimin,Xin Yi|xinyi,Siti,Priya,Mei Ling|meiling,Jia Hui|jiahui",
		"Jun Jie|junjie,Wei Jie|weijie,Muhammad,Arjun,Zhi Hao|zhihao,Kai Wen|kaiwen,Hafiz",
		"Tan,Lim,Lee,Ng,Ong,Wong,Goh,Chua,Koh,Teo,Chan,Ho")
	set(cultureGerman,
		"Anna,Lena,Leonie,Marie,Jana,Birgit,Sabine,Käthe,Gisela,Jördis,Ute",
		"Lukas,Jürgen,Jörg,Felix,Maximilian,Paul,Stefan,Uwe,Günter,Matthias",
		"Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schäfer,Koch,Groß,"+
			"Köhler,Hoffmann")
	set(cultureFrench,
		"Camille,Léa,Chloé,Manon,Inès,Zoé,Élodie,Océane,Hélène,Amélie",
		"Lucas,Hugo,Théo,Louis,Jérôme,François,Mathéo,Gaël,Noël,Raphaël",
		"Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Lefèvre,Girard,Bonnet,Ménard")
	set(cultureSpanish,
		"María,Lucía,Sofía,Martina,Paula,Carmen,Inés,Begoña,Nuria,Ana",
		"José,Hugo,Martín,Pablo,Álvaro,Mateo,Jesús,Ángel,Adrián,Íñigo",
		"García,Fernández,González,Rodríguez,López,Martínez,Sánchez,Pérez,Gómez,Muñoz,Núñez")
	set(cultureDutch,
		"Emma,Julia,Sanne,Fleur,Noor,Anouk,Eva,Lotte",
		"Daan,Sem,Lucas,Bram,Thijs,Joris,Ruben,Sven",
		"de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Visser,Smit,Meijer,de Boer")
	set(cultureNordic,
		"Åsa,Ingrid,Sigrid,Astrid,Freja,Maja,Guðrún,Sólveig,Kristín,Signe",
		"Søren,Mikkel,Lars,Erik,Ólafur,Magnús,Björn,Anders,Jens,Øystein",
		"Jensen,Nielsen,Hansen,Andersen,Johansson,Lindqvist,Sørensen,Jónsson,"+
			"Guðmundsdóttir,Håkansson,Ødegård")
	set(culturePolish,
		"Zofia,Małgorzata,Agnieszka,Katarzyna,Anna,Ewa,Joanna,Żaneta",
		"Łukasz,Paweł,Michał,Piotr,Krzysztof,Tomasz,Jakub,Wojciech",
		"Nowak,Kowalski,Wiśniewski,Wójcik,Kowalczyk,Kamiński,Lewandowski,Zieliński,Woźniak")
	set(cultureItalian,
		"Giulia,Chiara,Francesca,Sara,Martina,Alessia,Benedetta",
		"Luca,Marco,Matteo,Niccolò,Lorenzo,Andrea,Giuseppe",
		"Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Marino,Bruno,D'Angelo")
	set(cultureVietnamese,
		"Linh|linh,Lan|lan,Thảo|thao,Ngọc|ngoc,Hương|huong,Mai|mai",
		"Minh|minh,Dũng|dung,Huy|huy,Quang|quang,Tuấn|tuan,Đức|duc",
		"Nguyễn|nguyen,Trần|tran,Lê|le,Phạm|pham,Hoàng|hoang,Vũ|vu,Đặng|dang,Bùi|bui")
	set(cultureChinese,
		"芳|fang,静|jing,丽|li,敏|min,秀英|xiuying,婷|ting",
		"伟|wei,强|qiang,磊|lei,军|jun,洋|yang,杰|jie",
		"王|wang,李|li,张|zhang,刘|liu,陈|chen,杨|yang,黄|huang,赵|zhao")
	set(cultureJapanese,
		"陽菜|hina,さくら|sakura,結衣|yui,美咲|misaki,Yui|yui,Aiko|aiko",
		"蓮|ren,大翔|hiroto,悠真|yuma,翔太|shota,Kenji|kenji,Haruto|haruto",
		"佐藤|sato,鈴木|suzuki,高橋|takahashi,田中|tanaka,伊藤|ito,渡辺|watanabe,"+
			"Yamamoto|yamamoto")
	set(cultureArabic,
		"Fatima,Aisha,Mariam,Noura,Layla,Hessa",
		"Mohammed,Ahmed,Omar,Khalid,Yousef,Abdullah",
		"Al Mansouri,Al Hashimi,Al Suwaidi,Haddad,Khalil,Al Nuaimi,Al Kaabi,Al Marri")
	set(cultureIndian,
		"Priya,Ananya,Diya,Kavya,Sneha,Lakshmi",
		"Arjun,Rahul,Vikram,Aditya,Rohan,Sanjay",
		"Sharma,Patel,Singh,Kumar,Gupta,Iyer,Reddy,Nair")
	set(cultureTurkish,
		"Ayşe,Zeynep,Elif,Şule,Gül,Özlem",
		"Mehmet,Mustafa,Ahmet,Çağrı,Emre,Oğuz",
		"Yılmaz,Kaya,Demir,Şahin,Çelik,Öztürk,Aydın")
	set(cultureThai,
		"Siriporn,Nattaya,Ploy,Kanya",
		"Somchai,Anan,Krit,Niran",
		"Saelim,Srisuk,Wongsawat,Chaiyaporn")
}

// parseNames splits a comma-separated list of names, each either plain
// Latin text or "text|ascii".
func parseNames(list string) []name {
	var out []name
	for _, item := range strings.Split(list, ",") {
		text, ascii, ok := strings.Cut(item, "|")
		if !ok {
			ascii = foldASCII(text)
		}
		out = append(out, name{text: text, ascii: ascii})
	}
	return out
}

// asciiFolds spells the non-ASCII letters of the Latin-script lists.
var asciiFolds = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ä': "a", 'å': "a", 'ą': "a", 'Å': "a", 'Á': "a",
	'ç': "c", 'ć': "c", 'č': "c", 'Ç': "c", 'ð': "d", 'đ': "d", 'Đ': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ę': "e", 'É': "e", 'ğ': "g",
	'í': "i", 'î': "i", 'ï': "i", 'ı': "i", 'Í': "i", 'ł': "l", 'Ł': "l",
	'ñ': "n", 'ń': "n", 'ó': "o", 'ô': "o", 'ö': "o", 'ø': "o", 'ò': "o",
	'Ó': "o", 'Ö': "o", 'Ø': "o", 'ś': "s", 'ş': "s", 'Ş': "s", 'ß': "ss",
	'ú': "u", 'ü': "u", 'û': "u", 'ý': "y", 'ź': "z", 'ż': "z", 'Ż': "z",
	'Ä': "a", 'Ü': "u", 'Ś': "s", 'æ': "ae", 'þ': "th",
}

// foldASCII lowercases a Latin-script name and spells it in ASCII letters
// only, dropping spaces and apostrophes: "O'Brien" gives "obrien". It
// panics on a letter missing from asciiFolds, which the tests catch.
func foldASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		case r == ' ' || r == '\'' || r == '-':
		case r < utf8.RuneSelf:
			panic("synth: unexpected character in name " + s)
		default:
			f, ok := asciiFolds[r]
			if !ok {
				panic("synth: no ASCII spelling for " + string(r) + " in " + s)
			}
			b.WriteString(f)
		}
	}
	return b.String()
}
