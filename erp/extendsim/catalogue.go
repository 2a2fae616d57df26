package extendsim

import "github.com/vendre-extend/gateway/erp"

// Merchant is the name of the simulated merchant, printed on invoice PDFs.
const Merchant = "Nordbygg Grossist AB"

// Warehouses of the simulated merchant: the main warehouse and the store.
const (
	WarehouseMain  = "HUV"
	WarehouseStore = "BUT"
)

// product is one article of the catalogue. Price is the list price excl.
// VAT in öre; VAT is the rate in percent.
type product struct {
	Number string
	Name   string
	Unit   string
	Price  erp.Amount
	VAT    int
}

// catalogue is the merchant's assortment: workwear, protective gear, power
// tools, hand tools, fasteners and a few items at the reduced VAT rates
// (12 % food, 6 % books, 0 % gift cards).
var catalogue = []product{
	{"HV-1101", "Varselbyxa klass 2, gul/svart", "st", 89900, 25},
	{"HV-1102", "Varseljacka klass 3, orange", "st", 124900, 25},
	{"AB-2101", "Hantverksbyxa stretch, svart", "st", 74900, 25},
	{"AB-2102", "Snickarbyxa bomull, grå", "st", 64900, 25},
	{"AB-2110", "Arbetsjacka softshell, marin", "st", 89900, 25},
	{"AB-2120", "T-shirt 5-pack, svart", "fp", 34900, 25},
	{"AB-2130", "Fleecetröja, mörkgrå", "st", 44900, 25},
	{"SK-3101", "Skyddssko S3 låg, storlek 43", "par", 109500, 25},
	{"SK-3102", "Skyddskänga S3 vinter, storlek 44", "par", 159500, 25},
	{"HA-4101", "Arbetshandske nitril, 12-pack", "fp", 18900, 25},
	{"HA-4102", "Skärskyddshandske nivå C", "par", 12950, 25},
	{"HA-4103", "Vinterhandske fodrad", "par", 14900, 25},
	{"PS-5101", "Skyddsglasögon, klara", "st", 7990, 25},
	{"PS-5102", "Hörselkåpa med hjälmfäste", "st", 32900, 25},
	{"PS-5103", "Skyddshjälm vit, 6-punkts", "st", 24900, 25},
	{"PS-5104", "Andningsskydd FFP3, 10-pack", "fp", 29900, 25},
	{"VE-6101", "Borrmaskin 18 V, 2 x 4,0 Ah", "st", 299500, 25},
	{"VE-6102", "Slagskruvdragare 18 V, kolborstfri", "st", 249500, 25},
	{"VE-6103", "Sticksåg 18 V, utan batteri", "st", 179500, 25},
	{"VE-6104", "Cirkelsåg 190 mm, 18 V", "st", 279500, 25},
	{"VE-6105", "Vinkelslip 125 mm, 1 200 W", "st", 109500, 25},
	{"VE-6106", "Batteri 18 V, 5,0 Ah", "st", 99500, 25},
	{"HV-7101", "Hammare 600 g, glasfiberskaft", "st", 28900, 25},
	{"HV-7102", "Tumstock 2 m, trä", "st", 6990, 25},
	{"HV-7103", "Vattenpass 60 cm", "st", 25900, 25},
	{"HV-7104", "Bitssats 32 delar", "st", 19900, 25},
	{"HV-7105", "Kniv med utbytbart blad", "st", 8900, 25},
	{"HV-7106", "Sågblad till sticksåg, 5-pack", "fp", 14900, 25},
	{"FA-8101", "Träskruv 5,0 x 60, 200 st", "fp", 18900, 25},
	{"FA-8102", "Gipsskruv 3,9 x 35, 1 000 st", "fp", 24900, 25},
	{"FA-8103", "Expander M8, 50 st", "fp", 15900, 25},
	{"FA-8104", "Spik varmförzinkad 75 mm, 5 kg", "fp", 32900, 25},
	{"KE-9101", "Fogskum låg expansion, 750 ml", "st", 11900, 25},
	{"KE-9102", "Byggsilikon vit, 300 ml", "st", 7900, 25},
	{"KE-9103", "Markeringsspray orange, 500 ml", "st", 9900, 25},
	{"AR-9201", "Arbetsbelysning LED 20 W", "st", 54900, 25},
	{"AR-9202", "Förlängningssladd 10 m, IP44", "st", 27900, 25},
	{"LI-9301", "Kaffe mellanrost, 500 g", "st", 6490, 12},
	{"LI-9302", "Mineralvatten 24 x 50 cl", "fp", 12900, 12},
	{"LI-9401", "Handbok Säkra byggarbetsplatser", "st", 34900, 6},
	{"PK-0500", "Presentkort 500 kr", "st", 50000, 0},
}

// Word lists for generated customers and references.
var (
	firstNames = []string{"Anna", "Johan", "Maria", "Erik", "Karin", "Lars", "Sara", "Mikael",
		"Elin", "Anders", "Emma", "Peter", "Linda", "Fredrik", "Sofia", "Jonas"}
	lastNames = []string{"Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
		"Olsson", "Persson", "Svensson", "Gustafsson", "Lindqvist", "Berg", "Nyström", "Forsberg",
		"Åberg", "Ek"}
	sellers = []string{"Maria Sjöberg", "Erik Holm", "Kundtjänst"}
	trades  = []string{"Bygg", "Måleri", "Rör", "El", "Plåtslageri", "Mark & Anläggning",
		"Snickeri", "Fastighetsservice", "Ventilation", "Tak"}
	streets = []string{"Industrigatan", "Verkstadsvägen", "Hamngatan", "Förrådsvägen",
		"Lagergatan", "Montörvägen", "Smedjegatan", "Sågverksvägen"}
	comments = []string{"Leverans till grind 2, ring platschefen vid ankomst.",
		"Lossas med bakgavellyft.", "Märk kollit med projektnumret.", "Levereras före kl. 07.00."}
	// cities with the first three digits of their postal codes.
	cities = []struct{ Name, Zip string }{
		{"Umeå", "903"}, {"Luleå", "972"}, {"Gävle", "802"}, {"Falun", "791"}, {"Örebro", "702"},
		{"Karlstad", "652"}, {"Jönköping", "553"}, {"Växjö", "352"}, {"Kalmar", "392"},
		{"Halmstad", "302"}, {"Borås", "503"}, {"Uppsala", "753"}, {"Linköping", "582"},
		{"Norrköping", "602"}, {"Östersund", "831"}, {"Skellefteå", "931"}, {"Visby", "621"},
		{"Kristianstad", "291"}, {"Helsingborg", "252"}, {"Västerås", "722"},
	}
)

// carrier knows how a carrier numbers and tracks its shipments.
type carrier struct {
	Name   string
	Prefix string // of the tracking number
	Digits int    // random digits after Prefix
	URL    string // with one %s for the tracking number
}

var carriers = []carrier{
	{"PostNord", "00373", 15, "https://tracking.postnord.com/se/?id=%s"},
	{"DHL Freight", "", 10, "https://www.dhl.com/se-sv/home/tracking/tracking-freight.html?tracking-id=%s"},
	{"DB Schenker", "SESDS", 8, "https://www.dbschenker.com/app/tracking-public/?refNumber=%s"},
	{"Bring", "370", 15, "https://tracking.bring.se/tracking/%s"},
}

// localCourier is a courier whose tracking link is plain http: the gateway
// must drop it.
var localCourier = carrier{"Norrlandsbud", "NB", 6, "http://www.norrlandsbud.se/sok?sandning=%s"}
