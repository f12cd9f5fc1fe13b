#!/usr/bin/env python3
"""Write every evaluation dataset of the keyword-classification pipeline.

Standard library only, Python 3.11+. Deterministic: a fixed seed drives the only random
step (the order of the records in each file and the order in which M08 receives its
attribute lists), so two runs give byte-identical files.

    python3 datasets/generate_synthetic.py

The data below is hand-written: twelve real test ASINs with listings written for this
project, the brand entities and competitor lists that stage 1 would produce, about ten
brand-scope keywords per product (stage 2) and about seventeen relevance keywords per
product (stage 4). Every label is derived from the small tags next to each keyword, so
the same keyword on the same product always tells one story across the modules.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20260116
VERSION = "v1.1"
ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------
# Product catalogue
# ---------------------------------------------------------------------------------------
# Per product:
#   listing fields ........ what the Amazon detail page and its attribute table say
#   taxonomy .............. M06 answer, most specific product type first
#   variants / use_cases / audiences ... M07 answer, already in M08 rank order
#   primary_use ........... M09 answer (equals the validated use)
#   m10_input ............. None (M10 passes the phrase through) or (flawed phrase, issues)
#   hard_constraints ...... M11 answer
#   brand_entities ........ M01 answer
#   variations ............ M01a answer (first item = canonical spelling)
#   sub_brands / searchable_standards / manufacturer_term ... M01b answer
#   competitors ........... curated competitor brands: (name, variations, related terms)
#   competitor_entities ... Path A list used by M04/M05 (brand names plus product lines)
#   known_competitors ..... M03 seed list

PRODUCTS = [
    {
        "asin": "B0BQPGJ9LQ",
        "brand_name": "JBL",
        "manufacturer": "Harman International Industries",
        "title": "JBL Vibe Beam True Wireless Earbuds, Deep Bass Sound, Bluetooth 5.2, IP54 Water and Dust Resistant, Hands-Free Calls with VoiceAware, Up to 32 Hours of Battery Life (Black)",
        "bullets": [
            "JBL DEEP BASS SOUND: Compact 8 mm drivers tuned by JBL give punchy, bass-rich audio from a small earbud that sits comfortably for hours.",
            "UP TO 32 HOURS OF PLAY: 8 hours in the earbuds plus 24 more from the pocket-size charging case; a 10-minute top-up adds about 3 hours.",
            "CLEAR HANDS-FREE CALLS: Two microphones and VoiceAware let you hear your own voice naturally, so calls feel less closed-in.",
            "READY FOR SWEAT AND RAIN: The IP54 rating protects the earbuds against splashes, sweat and dust during workouts and commutes.",
            "SMART AMBIENT: Switch between Ambient Aware and TalkThru to hear traffic or chat without taking the earbuds out, and tune the EQ in the JBL Headphones app.",
            "QUICK PAIRING: Bluetooth 5.2 with Google Fast Pair connects in seconds to Android and iOS phones.",
        ],
        "description": "The JBL Vibe Beam earbuds bring JBL Deep Bass Sound to a light, stem-style design. Use them on the bus, at the gym or at your desk: the case keeps them charged for a full day and more, and Smart Ambient keeps you aware of what is going on around you.",
        "product_type": "HEADPHONES",
        "category_root": "Electronics",
        "category_sub": "Earbud Headphones",
        "color": "Black",
        "size": "One Size",
        "material": "Plastic",
        "style": "Vibe Beam",
        "model": "JBLVBEAMBLKAM",
        "item_form": "In Ear",
        "target_audience": "Adults",
        "specific_uses": "Music, Calls, Workouts, Commuting",
        "number_of_items": "1",
        "included_components": "Earbuds, Charging Case, USB-C Cable, 3 Sizes of Ear Tips",
        "taxonomy": ["Wireless Earbuds", "Headphones", "Portable Audio"],
        "variants": ["Black", "True Wireless", "In-Ear", "Bluetooth 5.2", "IP54 Water Resistant"],
        "use_cases": ["Music Listening", "Hands-Free Calls", "Workouts", "Commuting"],
        "audiences": ["Commuters", "Fitness Enthusiasts", "Students"],
        "primary_use": "Listening to music and calls",
        "m10_input": (
            "Deep bass true wireless music listening",
            ["adjective: deep bass", "feature: true wireless", "word_count: leaves out calls, the second core job"],
        ),
        "hard_constraints": ["Bluetooth Wireless Connection"],
        "brand_entities": ["JBL", "JLB", "J B L", "JBL Vibe", "Vibe Beam", "VoiceAware", "Harman"],
        "variations": ["JBL", "J B L", "J.B.L.", "J-B-L", "JLB", "BJL", "JBK", "HBL", "KBL", "JBLs", "JBL's"],
        "sub_brands": ["Vibe Beam", "VoiceAware", "Smart Ambient", "TalkThru"],
        "searchable_standards": ["Bluetooth 5.2", "IP54", "Google Fast Pair"],
        "manufacturer_term": "Harman",
        "competitors": [
            ("Sony", "Sony, sonny, soney, sony's", "LinkBuds, WF-C700N, WF-1000XM5"),
            ("Beats", "Beats, beats by dre, beets, beatz", "Studio Buds, Powerbeats Pro, Solo Buds"),
            ("Soundcore", "Soundcore, sound core, soundcor, Anker", "Liberty 4, Space A40, Life P3"),
            ("Bose", "Bose, boss, bosse", "QuietComfort Earbuds, Ultra Open Earbuds"),
            ("Skullcandy", "Skullcandy, skull candy, skulcandy", "Dime, Indy Evo, Sesh"),
            ("JLab", "JLab, J Lab, jlabs, j-lab", "Go Air Pop, JBuds Mini, Epic Air"),
            ("Apple", "Apple, aple, appel", "AirPods, AirPods Pro, air pods"),
            ("Samsung", "Samsung, samsun, samsng", "Galaxy Buds, Galaxy Buds FE, Galaxy Buds Pro"),
        ],
        "competitor_entities": ["Sony", "Beats", "Soundcore", "Anker", "Bose", "Skullcandy", "JLab", "Apple", "AirPods", "Samsung", "Galaxy Buds"],
        "known_competitors": ["Sony", "Beats", "Soundcore"],
    },
    {
        "asin": "B0BZYCJK89",
        "brand_name": "Owala",
        "manufacturer": "Trove Brands",
        "title": "Owala FreeSip Insulated Stainless Steel Water Bottle with Straw, BPA-Free Sports Water Bottle for Travel and Gym, 24 Oz, Denim",
        "bullets": [
            "TWO WAYS TO DRINK: The FreeSip spout lets you sip upright through the built-in straw or tilt the bottle back and swig from the wide opening.",
            "LEAK-PROOF AND LOCKABLE: A push-button lid pops open with one hand, and the carry loop doubles as a lock so the lid stays shut in your bag.",
            "COLD FOR 24 HOURS: Double-wall vacuum-insulated stainless steel keeps drinks cold all day without sweating on the outside.",
            "WIDE MOUTH: The opening is large enough for ice cubes and easy to clean; the lid is top-rack dishwasher safe, the cup should be washed by hand.",
            "MADE WITHOUT BPA, LEAD OR PHTHALATES: A food-grade stainless body and a BPA-free lid for everyday use at school, work and the gym.",
        ],
        "description": "Owala designed the FreeSip bottle for people who cannot decide between a straw and a wide spout. The 24 oz size fits most cup holders and backpack pockets, and the two-tone colorways make it easy to spot your bottle in a crowded locker room.",
        "product_type": "BOTTLE",
        "category_root": "Home & Kitchen",
        "category_sub": "Water Bottles",
        "color": "Denim",
        "size": "24 Ounces",
        "material": "Stainless Steel",
        "style": "FreeSip",
        "model": "C05133",
        "item_form": "Bottle",
        "target_audience": "Unisex Adult",
        "specific_uses": "Travel, Gym, School, Office",
        "number_of_items": "1",
        "included_components": "Bottle, FreeSip Lid",
        "taxonomy": ["Insulated Water Bottle", "Water Bottle", "Drinkware"],
        "variants": ["24 oz", "Denim", "Stainless Steel", "Straw Lid", "Vacuum Insulated"],
        "use_cases": ["Daily Hydration", "Gym Workouts", "Travel", "School"],
        "audiences": ["Students", "Gym Goers", "Office Workers", "Travelers"],
        "primary_use": "Drinking water on the go",
        "m10_input": None,
        "hard_constraints": [],
        "brand_entities": ["Owala", "Owalla", "Owla", "Owala FreeSip", "FreeSip", "Free Sip", "Trove Brands"],
        "variations": ["Owala", "O wala", "Owalla", "Owla", "Owal", "Owsla", "Iwala", "Owaka", "Owalah", "Ohwala", "Owalas", "Owala's"],
        "sub_brands": ["FreeSip"],
        "searchable_standards": [],
        "manufacturer_term": "Trove Brands",
        "competitors": [
            ("Hydro Flask", "Hydro Flask, hydroflask, hydro flasks, hydro-flask", "Trail Series, All Around Tumbler"),
            ("Stanley", "Stanley, stanly, standley", "Quencher, IceFlow, Stanley Cup"),
            ("Iron Flask", "Iron Flask, ironflask, iron flasks, iton flask", ""),
            ("Yeti", "Yeti, yeti's, yetti", "Rambler, Yonder"),
            ("CamelBak", "CamelBak, camelback, camel bak", "Chute Mag, Eddy+"),
            ("Contigo", "Contigo, contiga, contigo's", "Autoseal, Autospout"),
            ("Simple Modern", "Simple Modern, simplemodern", "Summit, Trek"),
            ("Takeya", "Takeya, takea, takeyas", ""),
        ],
        "competitor_entities": ["Hydro Flask", "Stanley", "Quencher", "Iron Flask", "Yeti", "Rambler", "CamelBak", "Contigo", "Simple Modern", "Takeya"],
        "known_competitors": ["Hydro Flask", "Stanley", "Iron Flask"],
    },
    {
        "asin": "B0CJ4WZXQF",
        "brand_name": "Cisily",
        "manufacturer": "Cisily",
        "title": "Cisily Kitchen Sink Caddy Organizer with High Brush Holder, Sponge Holder for Kitchen Sink with Removable Drain Tray, Rustproof 304 Stainless Steel Countertop Organizer, Black",
        "bullets": [
            "EVERYTHING IN ONE SPOT: Holds sponges, a dish brush, scrubbers and a soap bottle next to the sink so the counter stays clear.",
            "DRAINS AND DRIES: The slotted base lets water run into a removable tray, so sponges dry faster and do not sit in a puddle.",
            "HIGH BRUSH HOLDER: A tall side compartment keeps long-handled brushes upright and out of the wet area.",
            "RUSTPROOF MATERIAL: Made of 304 stainless steel with a matte black coating that stands up to daily splashes.",
            "EASY TO CLEAN: Lift out the tray, rinse it and slide it back; no tools or adhesive needed.",
        ],
        "description": "",
        "product_type": "SPONGE_HOLDER",
        "category_root": "Home & Kitchen",
        "category_sub": "Sponge Holders",
        "color": "Black",
        "size": "9.6 x 4.5 x 5.3 inches",
        "material": "Stainless Steel",
        "style": "Modern",
        "model": "CS-SC01",
        "item_form": "Caddy",
        "target_audience": "",
        "specific_uses": "Kitchen Sink Organization",
        "number_of_items": "1",
        "included_components": "Caddy, Drain Tray",
        "taxonomy": ["Sink Caddy", "Sink Organizer", "Kitchen Storage & Organization"],
        "variants": ["Black", "Stainless Steel", "Removable Drain Tray", "High Brush Holder"],
        "use_cases": ["Sponge Storage", "Dish Brush Storage", "Soap Bottle Storage", "Countertop Organization"],
        "audiences": ["Home Cooks", "Renters", "Small Kitchen Owners"],
        "primary_use": "Organizing sponges at the sink",
        "m10_input": (
            "Rustproof stainless steel sponge organizing",
            ["adjective: rustproof", "material: stainless steel", "word_count: drops where the organizing happens (the sink)"],
        ),
        "hard_constraints": [],
        "brand_entities": ["Cisily", "Cisly", "Cicily", "Cisilly"],
        "variations": ["Cisily", "Ci sily", "Cisly", "Cicily", "Cisilly", "Xisily", "Cusily", "Cisilt", "Sisily", "Cecily", "Cisilys"],
        "sub_brands": [],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("OXO", "OXO, oxo good grips, o x o", "Good Grips"),
            ("Simplehuman", "Simplehuman, simple human, simplehumans", "Sink Caddy, Sponge Caddy"),
            ("Umbra", "Umbra, umbrra", "Sling, Holster"),
            ("mDesign", "mDesign, m design, mdesigns", ""),
            ("Joseph Joseph", "Joseph Joseph, josephjoseph, joseph & joseph", "Surface, Duo"),
            ("iDesign", "iDesign, i design", "Forma"),
            ("Kitsure", "Kitsure, kit sure", ""),
        ],
        "competitor_entities": ["OXO", "Good Grips", "Simplehuman", "Umbra", "mDesign", "Joseph Joseph", "iDesign", "Kitsure"],
        "known_competitors": ["OXO", "Simplehuman"],
    },
    {
        "asin": "B0D6YNWLTS",
        "brand_name": "Pioneer Camp",
        "manufacturer": "Pioneer Camp",
        "title": "Pioneer Camp Men's Lightweight Packable Puffer Jacket, Water-Resistant Quilted Winter Coat with Stand Collar and Zip Pockets, Black, Medium",
        "bullets": [
            "WARM WITHOUT THE BULK: Light polyester padding traps body heat on cold mornings and packs down small when the day warms up.",
            "PACKS INTO ITS OWN POUCH: Stuff the jacket into the included storage bag and clip it to a backpack or carry-on.",
            "SHRUGS OFF LIGHT RAIN: A water-resistant shell sheds drizzle and snow flurries.",
            "THOUGHTFUL DETAILS: Stand collar, two zippered hand pockets, an inner pocket and elastic cuffs that keep out drafts.",
            "MEN'S REGULAR FIT, SIZE MEDIUM: Cut to layer over a sweater; please check the size chart before ordering.",
        ],
        "description": "A go-anywhere puffer for hikes, commutes and travel days. Wear it on its own in autumn or under a shell in deep winter.",
        "product_type": "COAT",
        "category_root": "Clothing, Shoes & Jewelry",
        "category_sub": "Men's Outerwear Jackets & Coats",
        "color": "Black",
        "size": "Medium",
        "material": "Polyester",
        "style": "Puffer",
        "model": "PC-PJ2301",
        "item_form": "",
        "target_audience": "Men",
        "specific_uses": "Hiking, Travel, Everyday Wear",
        "number_of_items": "1",
        "included_components": "Jacket, Storage Pouch",
        "taxonomy": ["Puffer Jacket", "Jacket", "Men's Outerwear"],
        "variants": ["Medium", "Black", "Men's Regular Fit", "Packable", "Water-Resistant Shell"],
        "use_cases": ["Cold Weather Wear", "Hiking", "Travel", "Layering"],
        "audiences": ["Men", "Hikers", "Travelers", "Commuters"],
        "primary_use": "Keeping warm in cold weather",
        "m10_input": None,
        "hard_constraints": ["Medium (Size)", "Men's Fit"],
        "brand_entities": ["Pioneer Camp", "PioneerCamp", "Pioner Camp", "Pionner Camp", "Pioneer Kamp"],
        "variations": ["Pioneer Camp", "PioneerCamp", "Pioneer-Camp", "Pioneer", "Pioner Camp", "Pionner Camp", "Pioneer Cmap", "Piomeer Camp", "Pioneer Kamp", "Pioneer Camps", "Pioneer Camp's"],
        "sub_brands": [],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("The North Face", "The North Face, north face, northface, tnf", "Nuptse, ThermoBall, McMurdo"),
            ("Columbia", "Columbia, colombia, columbia sportswear", "Powder Lite, Omni-Heat"),
            ("Amazon Essentials", "Amazon Essentials, amazon essential", ""),
            ("32 Degrees", "32 Degrees, 32 degree, thirty two degrees", ""),
            ("Patagonia", "Patagonia, patagucci, patagonia's", "Nano Puff, Down Sweater"),
            ("Wantdo", "Wantdo, want do", ""),
            ("Eddie Bauer", "Eddie Bauer, eddie bower, eddiebauer", "CirrusLite, MicroTherm"),
        ],
        "competitor_entities": ["The North Face", "North Face", "Columbia", "Amazon Essentials", "32 Degrees", "Patagonia", "Nano Puff", "Wantdo", "Eddie Bauer"],
        "known_competitors": ["The North Face", "Columbia"],
    },
    {
        "asin": "B0DSHWLXG6",
        "brand_name": "Jikasho",
        "manufacturer": "Jikasho",
        "title": "Jikasho Magnetic Phone Mount for Car, Strong Suction Dashboard and Windshield Phone Holder Compatible with MagSafe, 360° Rotation, Fits iPhone 16 15 14 13 and MagSafe Cases",
        "bullets": [
            "HOLDS ON OVER BUMPS: A ring of N52 magnets grips MagSafe phones and cases firmly, even on rough roads.",
            "STICKS WHERE YOU WANT IT: The reusable gel suction cup locks onto the dashboard or windshield and can be washed to restore its grip.",
            "360° ROTATION: Turn the phone between portrait and landscape and tilt it to the angle that suits you.",
            "ONE-HAND USE: Snap the phone on and pull it off with one hand while keeping the other on the wheel.",
            "WORKS WITH OTHER PHONES TOO: Two adhesive metal plates are included for phones and cases without MagSafe magnets.",
        ],
        "description": "Keep navigation in view and your hands free. The Jikasho mount puts your phone at eye level on the dash or windshield, and the magnetic head lets you attach it in one motion.",
        "product_type": "PORTABLE_ELECTRONIC_DEVICE_MOUNT",
        "category_root": "Cell Phones & Accessories",
        "category_sub": "Car Cradles & Mounts",
        "color": "Black",
        "size": "",
        "material": "Aluminum Alloy, Silicone",
        "style": "Magnetic",
        "model": "JK-M1",
        "item_form": "",
        "target_audience": "Drivers",
        "specific_uses": "Car Dashboard, Windshield",
        "number_of_items": "1",
        "included_components": "Magnetic Mount, Suction Base, 2 Metal Plates",
        "taxonomy": ["Car Phone Mount", "Phone Mount", "Cell Phone Accessories"],
        "variants": ["Magnetic", "Black", "Suction Cup Base", "360° Rotation"],
        "use_cases": ["GPS Navigation", "Hands-Free Calls", "Music Control While Driving"],
        "audiences": ["Drivers", "Rideshare Drivers", "Commuters"],
        "primary_use": "Holding a phone while driving",
        "m10_input": (
            "Strong magnetic MagSafe phone holding for cars",
            ["adjective: strong", "feature: magnetic", "brand: MagSafe", "word_count: 7 words, over the limit of 6"],
        ),
        "hard_constraints": ["Magnetic Attachment (MagSafe Compatible)", "Suction Cup Dashboard/Windshield Mount"],
        "brand_entities": ["Jikasho", "Jikaso", "Jikashu", "Jiksho"],
        "variations": ["Jikasho", "Ji Kasho", "Jikaso", "Jikashu", "Jiksho", "Kikasho", "Jilasho", "Jikasgo", "Jikashow", "Gikasho", "Jikashos"],
        "sub_brands": [],
        "searchable_standards": ["MagSafe"],
        "manufacturer_term": None,
        "competitors": [
            ("iOttie", "iOttie, i ottie, iottie's, iotti", "Easy One Touch, Velox"),
            ("Lamicall", "Lamicall, lamical, lami call", ""),
            ("Belkin", "Belkin, belken", "BoostCharge"),
            ("ESR", "ESR, e s r", "HaloLock"),
            ("Miracase", "Miracase, mira case", ""),
            ("Andobil", "Andobil, andobile", ""),
            ("Scosche", "Scosche, scoshe, scosh", "MagicMount"),
        ],
        "competitor_entities": ["iOttie", "Lamicall", "Belkin", "ESR", "HaloLock", "Miracase", "Andobil", "Scosche", "MagicMount"],
        "known_competitors": ["iOttie", "Lamicall", "Belkin"],
    },
    {
        "asin": "B0F42MT8JX",
        "brand_name": "Antarctic Star",
        "manufacturer": "Antarctic Star",
        "title": "Antarctic Star Countertop Ice Maker, 26 lbs in 24 Hours, 9 Bullet Ice Cubes in 6-8 Minutes, Self-Cleaning Portable Ice Machine with Scoop and Basket for Home, Kitchen, Office and Bar, Silver",
        "bullets": [
            "FIRST BATCH IN MINUTES: Makes 9 bullet-shaped cubes every 6 to 8 minutes and up to 26 lbs of ice a day.",
            "NO PLUMBING NEEDED: Pour water into the 1.5 L reservoir and plug the machine into a standard 115V outlet; there is no water line to connect.",
            "TWO CUBE SIZES: Choose small or large cubes from the control panel; a light tells you when the basket is full or the water is low.",
            "SELF-CLEANING MODE: One button runs a cleaning cycle to keep the inside fresh between uses.",
            "COMPACT AND PORTABLE: Fits on most countertops and is light enough to move to the patio, office or RV campsite with shore power.",
        ],
        "description": "Fresh ice without filling trays. Set the Antarctic Star ice maker on the counter, fill it with water and it starts producing ice right away. Ideal for parties, hot summer days and anyone who runs out of ice.",
        "product_type": "ICE_MAKER",
        "category_root": "Appliances",
        "category_sub": "Ice Makers",
        "color": "Silver",
        "size": "26 lbs per day",
        "material": "Stainless Steel, Plastic",
        "style": "Countertop",
        "model": "AS-IM26",
        "item_form": "",
        "target_audience": "",
        "specific_uses": "Home, Office, Parties",
        "number_of_items": "1",
        "included_components": "Ice Maker, Ice Scoop, Ice Basket",
        "taxonomy": ["Countertop Ice Maker", "Ice Maker", "Kitchen Appliances"],
        "variants": ["26 lbs per Day", "Silver", "Countertop", "Bullet Ice", "Self-Cleaning"],
        "use_cases": ["Home Ice Supply", "Parties", "Office Breakrooms", "Camping with Power Hookup"],
        "audiences": ["Households", "Party Hosts", "Office Managers"],
        "primary_use": "Making ice at home",
        "m10_input": None,
        "hard_constraints": ["Plug-In 115V AC Power", "Manual Water Reservoir (No Water Line Hookup)"],
        "brand_entities": ["Antarctic Star", "AntarcticStar", "Antartic Star", "Antarctic Stars", "Antarctica Star"],
        "variations": ["Antarctic Star", "AntarcticStar", "Antarctic-Star", "Antarctic", "Antartic Star", "Antarctica Star", "Antarctic Stat", "Sntarctic Star", "Antarctic Atar", "Antarktik Star", "Antarctic Stars"],
        "sub_brands": [],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("Frigidaire", "Frigidaire, frigidare, frigidair", "EFIC"),
            ("Euhomy", "Euhomy, euhome, eu homy", ""),
            ("Silonn", "Silonn, silon, sillon", ""),
            ("Igloo", "Igloo, iglo, igloos", ""),
            ("NewAir", "NewAir, new air", "ClearIce"),
            ("GE Profile", "GE Profile, ge, general electric", "Opal, Opal 2.0"),
            ("Magic Chef", "Magic Chef, magicchef", ""),
            ("COWSAR", "COWSAR, cowsar's, cow sar", ""),
        ],
        "competitor_entities": ["Frigidaire", "Euhomy", "Silonn", "Igloo", "NewAir", "GE Profile", "Opal", "Magic Chef", "COWSAR"],
        "known_competitors": ["Frigidaire", "Euhomy"],
    },
    {
        "asin": "B000H3I2JG",
        "brand_name": "Revlon",
        "manufacturer": "Revlon",
        "title": "Revlon ColorStay Eyeliner Pencil with Built-In Sharpener, Waterproof and Smudge-Proof Long-Wearing Eye Makeup, 201 Black, 0.01 oz",
        "bullets": [
            "LASTS ALL DAY: The long-wearing formula stays put for up to 16 hours without fading or smudging.",
            "WATERPROOF: Holds up to tears, sweat and humid weather.",
            "BUILT-IN SHARPENER: The cap hides a sharpener so the tip stays precise for thin or thick lines.",
            "SMOOTH GLIDE: Draws an even line in one pass, on the lash line or the waterline.",
        ],
        "description": "",
        "product_type": "EYELINER",
        "category_root": "Beauty & Personal Care",
        "category_sub": "Eyeliner",
        "color": "201 Black",
        "size": "0.01 Ounce",
        "material": "",
        "style": "Pencil",
        "model": "CS-EL-201",
        "item_form": "Pencil",
        "target_audience": "Adults",
        "specific_uses": "Eye Makeup",
        "number_of_items": "1",
        "included_components": "Eyeliner Pencil, Built-In Sharpener",
        "taxonomy": ["Eyeliner Pencil", "Eyeliner", "Eye Makeup"],
        "variants": ["201 Black", "Pencil", "Waterproof", "Built-In Sharpener"],
        "use_cases": ["Everyday Eye Makeup", "Waterline Lining", "Smoky Eye Looks"],
        "audiences": ["Women", "Makeup Beginners", "Makeup Artists"],
        "primary_use": "Lining and defining the eyes",
        "m10_input": (
            "Long-wearing waterproof eye defining by Revlon",
            ["adjective: long-wearing", "feature: waterproof", "brand: Revlon"],
        ),
        "hard_constraints": [],
        "brand_entities": ["Revlon", "Revelon", "Revlom", "Rvlon", "ColorStay", "Color Stay"],
        "variations": ["Revlon", "Rev lon", "Revelon", "Revlom", "Rvlon", "Ravlon", "Revkon", "Reblon", "Revlin", "Revlons", "Revlon's"],
        "sub_brands": ["ColorStay"],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("Maybelline", "Maybelline, maybeline, maybelline new york, maybelene", "TattooStudio, Hyper Easy, Lasting Drama"),
            ("L'Oréal Paris", "L'Oréal Paris, loreal, l'oreal, loreal paris", "Infallible, Voluminous"),
            ("NYX", "NYX, nyx professional makeup, nix", "Epic Ink"),
            ("e.l.f.", "e.l.f., elf, elf cosmetics", "No Budge"),
            ("Rimmel", "Rimmel, rimel, rimmel london", "Scandaleyes"),
            ("CoverGirl", "CoverGirl, cover girl, covergirl's", "Perfect Point Plus"),
            ("Wet n Wild", "Wet n Wild, wet and wild, wetnwild", "Color Icon"),
            ("Milani", "Milani, milanni", ""),
        ],
        "competitor_entities": ["Maybelline", "L'Oréal Paris", "Loreal", "Infallible", "NYX", "e.l.f.", "Rimmel", "CoverGirl", "Wet n Wild", "Milani"],
        "known_competitors": ["Maybelline", "L'Oréal Paris", "NYX"],
    },
    {
        "asin": "B08J8GZXKZ",
        "brand_name": "KitchenAid",
        "manufacturer": "Lifetime Brands",
        "title": "KitchenAid Asteroid Oven Mitt 2-Pack Set, Heat Resistant up to 500°F, Silicone Grip with Quilted Cotton Lining, 7 x 13 Inch, Charcoal Grey",
        "bullets": [
            "HEAT RESISTANT UP TO 500°F: The silicone outer shell protects your hands when you lift hot pans, baking dishes and cast iron.",
            "NON-SLIP GRIP: A raised pattern on the silicone palm helps you hold on to heavy or slippery cookware.",
            "SOFT INSIDE: A quilted cotton lining keeps the mitts comfortable and breathable.",
            "GENEROUS SIZE: At 7 x 13 inches, the mitts cover the wrist and the lower forearm.",
            "EASY CARE: Wipe the silicone clean; the hanging loop keeps the mitts close to the oven.",
        ],
        "description": "Made for everyday baking and roasting, the KitchenAid Asteroid oven mitts pair a silicone shell with a soft lining. The set of two lets you carry a roasting pan with both hands.",
        "product_type": "OVEN_MITT",
        "category_root": "Home & Kitchen",
        "category_sub": "Oven Mitts & Pot Holders",
        "color": "Charcoal Grey",
        "size": "7 x 13 inches",
        "material": "Silicone, Cotton",
        "style": "Modern",
        "model": "KA-OM2-CG",
        "item_form": "",
        "target_audience": "",
        "specific_uses": "Baking, Roasting, Grilling",
        "number_of_items": "2",
        "included_components": "2 Oven Mitts",
        "taxonomy": ["Oven Mitt", "Kitchen Safety Equipment", "Kitchen Accessories"],
        "variants": ["Charcoal Grey", "Silicone", "2-Pack", "7 x 13 inches"],
        "use_cases": ["Baking", "Handling Hot Cookware", "Roasting", "Grilling"],
        "audiences": ["Home Cooks", "Bakers"],
        "primary_use": "Heat protection when cooking",
        "m10_input": None,
        "hard_constraints": ["Heat Resistant up to 500°F"],
        "brand_entities": ["KitchenAid", "Kitchen Aid", "KitchenAide", "Kichenaid", "Asteroid", "Lifetime Brands"],
        "variations": ["KitchenAid", "Kitchen Aid", "Kitchen-Aid", "KitchenAide", "Kichenaid", "Kitchenaod", "Kitcheaid", "Kithcenaid", "Kitchen Ade", "Kitchenaids", "KitchenAid's"],
        "sub_brands": ["Asteroid"],
        "searchable_standards": [],
        "manufacturer_term": "Lifetime Brands",
        "competitors": [
            ("Cuisinart", "Cuisinart, cuisineart, cusinart", ""),
            ("OXO", "OXO, oxo good grips, o x o", "Good Grips"),
            ("HOMWE", "HOMWE, homwe's, home we", ""),
            ("Big Red House", "Big Red House, bigredhouse", ""),
            ("Le Creuset", "Le Creuset, le cruset, lecreuset", ""),
            ("Grill Heat Aid", "Grill Heat Aid, grillheataid", ""),
            ("Gorilla Grip", "Gorilla Grip, gorila grip", ""),
        ],
        "competitor_entities": ["Cuisinart", "OXO", "Good Grips", "HOMWE", "Big Red House", "Le Creuset", "Grill Heat Aid", "Gorilla Grip"],
        "known_competitors": ["Cuisinart", "OXO"],
    },
    {
        "asin": "B09LCKZBTW",
        "brand_name": "WEBACOO",
        "manufacturer": "WEBACOO",
        "title": "WEBACOO Bamboo Serving Tray with Handles, 15 x 10 Inch Wooden Breakfast Tray for Coffee Table, Ottoman, Kitchen and Party Serving, Natural",
        "bullets": [
            "NATURAL BAMBOO: A solid bamboo tray with a smooth, food-safe finish and a warm natural grain.",
            "CUT-OUT HANDLES: Carry coffee, breakfast or snacks from the kitchen to the sofa with a firm grip on both sides.",
            "RAISED EDGES: Two-inch walls keep cups and plates from sliding off.",
            "MANY ROOMS, MANY USES: Serve drinks at a party, bring breakfast in bed or tidy remotes and candles on an ottoman.",
            "SIMPLE CARE: Wipe with a damp cloth and let it air dry; do not soak.",
        ],
        "description": "A light, sturdy tray that moves from kitchen to living room. Use it to serve guests, carry a tea set or keep the coffee table in order.",
        "product_type": "SERVING_TRAY",
        "category_root": "Home & Kitchen",
        "category_sub": "Serving Trays",
        "color": "Natural",
        "size": "15 x 10 x 2 inches",
        "material": "Bamboo",
        "style": "Rustic",
        "model": "WBC-ST15",
        "item_form": "Tray",
        "target_audience": "",
        "specific_uses": "Serving, Breakfast in Bed, Ottoman Decor",
        "number_of_items": "1",
        "included_components": "Serving Tray",
        "taxonomy": ["Serving Tray", "Serveware", "Kitchen & Dining"],
        "variants": ["15 x 10 inches", "Natural", "Bamboo", "With Handles"],
        "use_cases": ["Serving Food and Drinks", "Breakfast in Bed", "Coffee Table Decor", "Parties"],
        "audiences": ["Hosts", "Families", "Gift Buyers"],
        "primary_use": "Serving food and drinks",
        "m10_input": (
            "Premium bamboo food serving",
            ["marketing: premium", "material: bamboo", "word_count: drops drinks, a core use"],
        ),
        "hard_constraints": [],
        "brand_entities": ["WEBACOO", "Webaco", "Webacco", "Web Acoo", "Wabacoo"],
        "variations": ["WEBACOO", "Web Acoo", "Webaco", "Webacco", "Wabacoo", "Qebacoo", "Webavoo", "Webacool", "Vebacoo", "Webacoos"],
        "sub_brands": [],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("Bambüsi", "Bambüsi, bambusi, bambusi by belmint, bambooei", ""),
            ("Royal Craft Wood", "Royal Craft Wood, royalcraftwood, royal craft", ""),
            ("Greenco", "Greenco, green co", ""),
            ("Pipishell", "Pipishell, pipi shell", ""),
            ("Mkono", "Mkono, m kono", ""),
            ("Farmlyn Creek", "Farmlyn Creek, farmlyn", ""),
        ],
        "competitor_entities": ["Bambüsi", "Bambusi", "Royal Craft Wood", "Greenco", "Pipishell", "Mkono", "Farmlyn Creek"],
        "known_competitors": ["Bambüsi", "Royal Craft Wood"],
    },
    {
        "asin": "B077YYP739",
        "brand_name": "Transformers",
        "manufacturer": "Hasbro",
        "title": "Transformers Toys Cyber Commander Series Optimus Prime Action Figure, Converts from Robot to Truck in 15 Steps, 12-Inch, for Kids Ages 6 and Up",
        "bullets": [
            "THE AUTOBOT LEADER: A 12-inch Optimus Prime figure inspired by the Transformers animated series.",
            "ROBOT TO TRUCK: Converts from robot to semi-truck mode in 15 steps; the steps are easy enough for young fans.",
            "BATTLE READY: Comes with a blaster accessory that fits in either hand.",
            "POSEABLE: Moving arms, legs and head let kids stage their own battles and display poses.",
            "COLLECT THE SERIES: Other Cyber Commander Series characters are sold separately.",
        ],
        "description": "",
        "product_type": "TOY_FIGURE",
        "category_root": "Toys & Games",
        "category_sub": "Action Figures",
        "color": "Red, Blue",
        "size": "12 inches",
        "material": "Plastic",
        "style": "Cyber Commander",
        "model": "CC-OP12",
        "item_form": "",
        "target_audience": "Kids 6 and Up",
        "specific_uses": "Play, Display",
        "number_of_items": "1",
        "included_components": "Figure, Blaster Accessory",
        "taxonomy": ["Transforming Robot Action Figure", "Action Figure", "Toys"],
        "variants": ["Robot to Truck Conversion", "12-inch", "Red and Blue", "Blaster Accessory"],
        "use_cases": ["Imaginative Play", "Display Collecting", "Gifting"],
        "audiences": ["Kids Ages 6 and Up", "Transformers Collectors", "Gift Buyers"],
        "primary_use": "Imaginative play and display",
        "m10_input": None,
        "hard_constraints": [],
        "brand_entities": ["Transformers", "Transformer", "Tranformers", "Transfomers", "Optimus Prime", "Cyber Commander Series", "Hasbro"],
        "variations": ["Transformers", "Transformer", "Trans formers", "Tranformers", "Transfomers", "Transformors", "Transforners", "Trnasformers", "Transformes", "Transformers'"],
        "sub_brands": ["Cyber Commander Series", "Optimus Prime"],
        "searchable_standards": [],
        "manufacturer_term": "Hasbro",
        "competitors": [
            ("Power Rangers", "Power Rangers, power ranger, powerrangers", "Zords, Megazord"),
            ("Marvel Legends", "Marvel Legends, marvel legend", ""),
            ("Tobot", "Tobot, tobots, to bot", ""),
            ("Gundam", "Gundam, gundum, gundams", "Gunpla"),
            ("GoBots", "GoBots, go bots, gobot", ""),
            ("Zoids", "Zoids, zoid", ""),
            ("LEGO", "LEGO, legos, lego's", "LEGO Technic"),
        ],
        "competitor_entities": ["Power Rangers", "Marvel Legends", "Tobot", "Gundam", "Gunpla", "GoBots", "Zoids", "LEGO"],
        "known_competitors": ["Power Rangers", "Marvel Legends"],
    },
    {
        "asin": "B0C9SPJ9ZQ",
        "brand_name": "Rx Crush",
        "manufacturer": "Rx Crush",
        "title": "Rx Crush ENFit Syringe 60 mL, Enteral Feeding and Medication Syringe with ENFit Tip and Cap, Latex-Free, Individually Wrapped, 30 Pack",
        "bullets": [
            "ENFIT CONNECTOR: The ENFit tip twists onto ENFit feeding tubes and extension sets and cannot be connected to IV lines, which helps prevent misconnections.",
            "60 ML FOR FEEDS AND FLUSHES: Large enough for bolus feeds and water flushes; clear barrel with bold 2 mL markings.",
            "SMOOTH PLUNGER: The plunger glides evenly for steady, controlled delivery.",
            "CLEAN AND SAFE: Latex-free and DEHP-free; each syringe is individually wrapped with a tip cap.",
            "30 PACK: A month of daily feeds for home care, nursing homes and clinics.",
        ],
        "description": "Rx Crush ENFit syringes are made for people who feed or give medication through a G-tube, J-tube or NG tube. The ENFit connection locks securely, and the tip cap keeps the syringe clean between uses.",
        "product_type": "SYRINGE",
        "category_root": "Health & Household",
        "category_sub": "Enteral Feeding Syringes",
        "color": "Purple",
        "size": "60 mL",
        "material": "Polypropylene",
        "style": "ENFit",
        "model": "RXC-EF60-30",
        "item_form": "",
        "target_audience": "Caregivers, Tube-Fed Patients",
        "specific_uses": "Enteral Feeding, Medication Delivery, Water Flushes",
        "number_of_items": "30",
        "included_components": "30 Syringes, 30 Tip Caps",
        "taxonomy": ["ENFit Syringe", "Enteral Feeding Syringe", "Medical Supplies"],
        "variants": ["ENFit Tip", "60 mL", "30 Pack", "Latex-Free"],
        "use_cases": ["Bolus Tube Feeding", "Medication Through Feeding Tube", "Water Flushes"],
        "audiences": ["Caregivers", "Tube-Fed Patients", "Nurses"],
        "primary_use": "Delivering enteral feeds and medication",
        "m10_input": (
            "Sterile 60 mL ENFit enteral feeding",
            ["adjective: sterile", "specification: 60 mL", "feature: ENFit tip", "word_count: leaves out medication delivery"],
        ),
        "hard_constraints": ["ENFit Connector"],
        "brand_entities": ["Rx Crush", "RxCrush", "Rx-Crush", "Rx Crsh", "Rx Cruch"],
        "variations": ["Rx Crush", "RxCrush", "Rx-Crush", "Rx", "Rx Crsh", "Rx Cruch", "Rx Crusch", "Ex Crush", "Rc Crush", "Rx Crushes", "Rx Crush's"],
        "sub_brands": [],
        "searchable_standards": ["ENFit"],
        "manufacturer_term": None,
        "competitors": [
            ("Medline", "Medline, med line, medlin", ""),
            ("NeoMed", "NeoMed, neo med", ""),
            ("Avanos", "Avanos, avanos medical, halyard", "Corflo, MIC-KEY"),
            ("Cardinal Health", "Cardinal Health, cardinal", "Monoject"),
            ("Vesco Medical", "Vesco Medical, vesco", ""),
            ("BD", "BD, becton dickinson", "Luer-Lok"),
        ],
        "competitor_entities": ["Medline", "NeoMed", "Avanos", "Cardinal Health", "Monoject", "Vesco Medical", "BD"],
        "known_competitors": ["Medline", "NeoMed"],
    },
    {
        "asin": "B0CVQJY9C6",
        "brand_name": "Rx Crush",
        "manufacturer": "Rx Crush",
        "title": "Rx Crush Pill Crusher and Grinder, Crushes Multiple Tablets into Fine Powder, Twist Handle Pill Pulverizer with Storage Compartment for Seniors and Caregivers, Blue",
        "bullets": [
            "FINE POWDER IN SECONDS: Twist the handle a few times to turn one or several tablets into a fine powder.",
            "EASY ON THE HANDS: The wide, textured grip needs little strength, which helps people with arthritis.",
            "NO LOST MEDICINE: The sealed chamber keeps powder inside, and the clear cup shows when the pills are fully crushed.",
            "BUILT-IN STORAGE: A compartment in the lid holds the next dose for travel or work.",
            "MIX AND SERVE: Stir the powder into applesauce, pudding or water; always ask a pharmacist which pills may be crushed.",
        ],
        "description": "For anyone who struggles to swallow pills, the Rx Crush pill crusher turns tablets into powder that mixes easily with soft food or liquid.",
        "product_type": "PILL_CRUSHER",
        "category_root": "Health & Household",
        "category_sub": "Pill Crushers",
        "color": "Blue",
        "size": "",
        "material": "Plastic",
        "style": "Twist Handle",
        "model": "RXC-PC1",
        "item_form": "",
        "target_audience": "Seniors, Caregivers",
        "specific_uses": "Medication Preparation",
        "number_of_items": "1",
        "included_components": "Pill Crusher, Storage Compartment",
        "taxonomy": ["Pill Crusher", "Medication Aids", "Health Care Supplies"],
        "variants": ["Twist Handle", "Blue", "Storage Compartment"],
        "use_cases": ["Crushing Pills for Swallowing", "Mixing Medicine into Food", "Preparing Tube-Fed Medication"],
        "audiences": ["Seniors", "Caregivers", "People with Swallowing Difficulty"],
        "primary_use": "Crushing pills into powder",
        "m10_input": None,
        "hard_constraints": [],
        "brand_entities": ["Rx Crush", "RxCrush", "Rx-Crush", "Rx Crsh", "Rx Cruch"],
        "variations": ["Rx Crush", "RxCrush", "Rx-Crush", "Rx", "Rx Crsh", "Rx Cruch", "Rx Crusch", "Ex Crush", "Rc Crush", "Rx Crushes", "Rx Crush's"],
        "sub_brands": [],
        "searchable_standards": [],
        "manufacturer_term": None,
        "competitors": [
            ("Ezy Dose", "Ezy Dose, ezydose, easy dose", ""),
            ("Silent Knight", "Silent Knight, silent night, silentknight", ""),
            ("Medline", "Medline, med line, medlin", ""),
            ("Apex", "Apex, apex healthcare", ""),
            ("Acu-Life", "Acu-Life, acu life, aculife", ""),
            ("MedPride", "MedPride, med pride", ""),
        ],
        "competitor_entities": ["Ezy Dose", "Silent Knight", "Medline", "Apex", "Acu-Life", "MedPride"],
        "known_competitors": ["Ezy Dose", "Silent Knight"],
    },
]

# ---------------------------------------------------------------------------------------
# Stage 2: brand-scope keywords (the same keywords feed M02, M02b, M04, M04b, M05, M05b)
# ---------------------------------------------------------------------------------------
# Tags: OB = own brand, CB = competitor brand, OTHER = a brand that is neither (Null in all
# three modules), NB = no brand, ASIN / PPC / NUM = an ASIN string, a PPC targeting term or a
# bare number (Null for OB and CB, NB for M05: they name no brand).

BRAND_KEYWORDS = {
    "B0BQPGJ9LQ": [
        ("jbl earbuds wireless", "OB"),
        ("jlb vibe beam", "OB"),
        ("jlab go air pop", "CB"),
        ("airpods pro 2", "CB"),
        ("wireless earbuds bluetooth", "NB"),
        ("earbuds with mic for calls", "NB"),
        ("waterproof earbuds for running", "NB"),
        ("b0bqpgj9lq", "ASIN"),
        ("32", "NUM"),
        ("earbuds for small ears", "NB"),
    ],
    "B0BZYCJK89": [
        ("owala 24 oz", "OB"),
        ("owalla water bottle", "OB"),
        ("hydro flask lid", "CB"),
        ("ironflask 40 oz", "CB"),
        ("disney princess water bottle", "OTHER"),
        ("insulated water bottle with straw", "NB"),
        ("kids water bottle for school", "NB"),
        ("b0bzycjk89", "ASIN"),
        ("leak proof water bottle", "NB"),
        ("water bottle with handle", "NB"),
    ],
    "B0CJ4WZXQF": [
        ("cisily sink caddy", "OB"),
        ("cisly sponge holder", "OB"),
        ("oxo sink caddy", "CB"),
        ("simplehuman sink caddy", "CB"),
        ("sink sponge holder", "NB"),
        ("kitchen sink organizer", "NB"),
        ("sponge holder for kitchen sink with drain", "NB"),
        ("close-match", "PPC"),
        ("dish brush holder", "NB"),
        ("stainless steel sink caddy", "NB"),
    ],
    "B0D6YNWLTS": [
        ("pioneer camp puffer jacket", "OB"),
        ("pioner camp jacket", "OB"),
        ("the north face puffer jacket men", "CB"),
        ("columbia puffer jacket men", "CB"),
        ("mens puffer jacket", "NB"),
        ("lightweight packable down jacket men", "NB"),
        ("winter coat men", "NB"),
        ("loose-match", "PPC"),
        ("puffer jacket with hood men", "NB"),
        ("black quilted jacket", "NB"),
    ],
    "B0DSHWLXG6": [
        ("jikasho phone mount", "OB"),
        ("jikashu magnetic car mount", "OB"),
        ("iottie car mount", "CB"),
        ("magnetic phone holder for car", "NB"),
        ("car phone holder mount dashboard", "NB"),
        ("strong magnet phone mount car", "NB"),
        ("substitutes", "PPC"),
        ("phone holder for car windshield", "NB"),
        ("b0dshwlxg6", "ASIN"),
        ("suction cup phone mount", "NB"),
    ],
    "B0F42MT8JX": [
        ("antarctic star ice maker", "OB"),
        ("antartic star ice machine", "OB"),
        ("frigidaire ice machine", "CB"),
        ("euhomy ice maker", "CB"),
        ("countertop ice maker", "NB"),
        ("portable ice maker machine", "NB"),
        ("26", "NUM"),
        ("ice maker self cleaning", "NB"),
        ("bullet ice maker", "NB"),
        ("nugget ice maker", "NB"),
    ],
    "B000H3I2JG": [
        ("revlon colorstay eyeliner", "OB"),
        ("colorstay eye liner", "OB"),
        ("maybelline eyeliner", "CB"),
        ("loreal infallible eyeliner", "CB"),
        ("black eyeliner pencil", "NB"),
        ("waterproof eyeliner", "NB"),
        ("eyeliner with sharpener", "NB"),
        ("complements", "PPC"),
        ("smudge proof eyeliner long lasting", "NB"),
        ("kohl eyeliner", "NB"),
    ],
    "B08J8GZXKZ": [
        ("kitchenaid oven mitts", "OB"),
        ("kitchen aid oven mitt", "OB"),
        ("cuisinart oven mitts", "CB"),
        ("oven mitt silicone", "NB"),
        ("heat resistant oven mitts", "NB"),
        ("oven mitts and pot holders sets", "NB"),
        ("b08j8gzxkz", "ASIN"),
        ("long oven mitts", "NB"),
        ("oven mitts 500 degrees", "NB"),
        ("grey oven mitts", "NB"),
    ],
    "B09LCKZBTW": [
        ("webacoo bamboo tray", "OB"),
        ("bambusi serving tray", "CB"),
        ("bamboo serving tray with handles", "NB"),
        ("breakfast tray", "NB"),
        ("ottoman tray", "NB"),
        ("wooden serving tray", "NB"),
        ("serving tray", "NB"),
        ("12", "NUM"),
        ("serving tray for coffee table", "NB"),
        ("large serving tray for party", "NB"),
    ],
    "B077YYP739": [
        ("optimus prime toy", "OB"),
        ("transformer toys for boys", "OB"),
        ("hasbro optimus prime", "OB"),
        ("power rangers action figures", "CB"),
        ("star wars action figure", "OTHER"),
        ("robot toys for kids", "NB"),
        ("action figures for boys 8-12", "NB"),
        ("b077yyp739", "ASIN"),
        ("car robot toy", "NB"),
        ("12 inch action figure", "NB"),
    ],
    "B0C9SPJ9ZQ": [
        ("rx crush enfit syringe", "OB"),
        ("rxcrush syringes", "OB"),
        ("medline enfit syringe", "CB"),
        ("enfit syringe 60ml", "NB"),
        ("enteral feeding syringe", "NB"),
        ("60", "NUM"),
        ("g tube syringe", "NB"),
        ("feeding tube syringe", "NB"),
        ("enfit syringes 30 pack", "NB"),
        ("exact match", "PPC"),
    ],
    "B0CVQJY9C6": [
        ("rx crush pill crusher", "OB"),
        ("ezy dose pill crusher", "CB"),
        ("silent knight pill crusher", "CB"),
        ("pill crusher", "NB"),
        ("pill grinder fine powder", "NB"),
        ("pill crusher for elderly", "NB"),
        ("tablet crusher", "NB"),
        ("auto targeting", "PPC"),
        ("pill pulverizer", "NB"),
        ("medicine crusher for seniors", "NB"),
    ],
}

# ---------------------------------------------------------------------------------------
# Stage 4: relevance keywords (shared by M12, M12b, M13, M14, M15, M16)
# ---------------------------------------------------------------------------------------
# Tags give the path through the Path A tree:
#   V  = violates a hard constraint (M12 "N"; stops there; M12b "N")
#   R  = same product type, same primary use      (M13 true,  M14 "R")
#   SN = same product type, different primary use (M13 true,  M14 "N")
#   S  = different type, same customer need       (M13 false, M15 "S")
#   C  = different type, used together           (M13 false, M15 null, M16 "C")
#   N  = different type, unrelated                (M13 false, M15 null, M16 "N")
# The third item of a C entry is the relationship type M16 would name.

RELEVANCE_KEYWORDS = {
    "B0BQPGJ9LQ": [
        ("wireless earbuds bluetooth", "R"),
        ("noise cancelling earbuds", "R"),
        ("bluetooth earbuds for iphone", "R"),
        ("jbl earbuds", "R"),
        ("sport earbuds waterproof", "R"),
        ("wireless earbuds for android", "R"),
        ("in ear headphones wireless", "R"),
        ("earbuds with long battery life", "R"),
        ("over ear headphones wireless", "S"),
        ("bone conduction headphones", "S"),
        ("earbud case cover", "C", "Accessory"),
        ("replacement ear tips silicone", "C", "Maintenance"),
        ("earbud cleaning kit", "C", "Maintenance"),
        ("usb c charging cable short", "C", "Accessory"),
        ("running armband phone holder", "C", "Same-Occasion"),
        ("hearing aids for seniors", "N"),
        ("wired earbuds with mic", "V"),
    ],
    "B0BZYCJK89": [
        ("insulated water bottle with straw", "R"),
        ("stainless steel water bottle 24 oz", "R"),
        ("water bottle with straw lid", "R"),
        ("leak proof water bottle", "R"),
        ("ironflask 40 oz", "R"),
        ("kids water bottle for school", "R"),
        ("gym water bottle", "R"),
        ("reusable water bottle", "R"),
        ("water bottle for rabbit cage", "SN"),
        ("tumbler with handle and straw", "S"),
        ("water bottle cleaning brush set", "C", "Maintenance"),
        ("replacement straws for water bottle", "C", "Maintenance"),
        ("water bottle carrier bag with strap", "C", "Accessory"),
        ("electrolyte powder packets", "C", "Workflow"),
        ("silicone bottle boot", "C", "Accessory"),
        ("food storage containers", "N"),
    ],
    "B0CJ4WZXQF": [
        ("kitchen sink caddy", "R"),
        ("sponge holder for kitchen sink", "R"),
        ("sink organizer with drain tray", "R"),
        ("oxo kitchen sink caddy", "R"),
        ("stainless steel sponge holder", "R"),
        ("dish brush holder sink", "R"),
        ("sink tray organizer countertop", "R"),
        ("rustproof kitchen sink organizer", "R"),
        ("shower caddy", "SN"),
        ("soap dispenser with sponge holder", "S"),
        ("soap dispenser kitchen sink", "C", "Organization"),
        ("kitchen sponges", "C", "Storage"),
        ("dish scrub brush", "C", "Storage"),
        ("dish soap", "C", "Workflow"),
        ("sink protector mat", "C", "Organization"),
        ("kitchen sink", "N"),
    ],
    "B0D6YNWLTS": [
        ("mens puffer jacket", "R"),
        ("puffer jacket men medium", "R"),
        ("lightweight puffer jacket men", "R"),
        ("packable down jacket men", "R"),
        ("mens winter jacket", "R"),
        ("hooded puffer coat men", "R"),
        ("quilted jacket for men", "R"),
        ("warm jacket for men hiking", "R"),
        ("dog puffer jacket", "SN"),
        ("down vest men", "S"),
        ("winter beanie men", "C", "Same-Occasion"),
        ("thermal base layer men", "C", "Same-Occasion"),
        ("touchscreen winter gloves men", "C", "Same-Occasion"),
        ("waterproofing spray for jackets", "C", "Maintenance"),
        ("down wash detergent", "C", "Maintenance"),
        ("mens dress shoes", "N"),
        ("large puffer jacket", "V"),
        ("mens puffer jacket xl", "V"),
        ("womens puffer jacket", "V"),
        ("puffer jacket men small", "V"),
    ],
    "B0DSHWLXG6": [
        ("magnetic phone holder for car", "R"),
        ("car phone mount dashboard", "R"),
        ("phone holder for car windshield suction", "R"),
        ("magsafe car mount", "R"),
        ("jikasho phone mount", "R"),
        ("car phone holder for iphone 15", "R"),
        ("suction cup phone mount car", "R"),
        ("hands free phone holder car", "R"),
        ("phone tripod mount for camera", "SN"),
        ("dashboard sticky pad for phone", "S"),
        ("car phone charger usb c", "C", "Accessory"),
        ("metal plate for magnetic phone mount", "C", "Accessory"),
        ("magsafe phone case", "C", "Accessory"),
        ("magnetic ring sticker for phone", "C", "Accessory"),
        ("tv wall mount", "N"),
        ("car seat covers", "N"),
        ("non magnetic phone holder for car", "V"),
        ("phone clamp mount no magnet", "V"),
        ("car vent phone mount", "V"),
    ],
    "B0F42MT8JX": [
        ("countertop ice maker", "R"),
        ("portable ice maker machine", "R"),
        ("ice maker machine for home", "R"),
        ("bullet ice maker", "R"),
        ("ice maker self cleaning", "R"),
        ("frigidaire ice maker", "R"),
        ("small ice maker for kitchen", "R"),
        ("ice maker 26 lbs", "R"),
        ("refrigerator ice maker replacement", "SN"),
        ("silicone ice cube trays", "S"),
        ("ice scoop stainless steel", "C", "Accessory"),
        ("ice machine cleaner descaler", "C", "Maintenance"),
        ("insulated ice bucket", "C", "Storage"),
        ("cocktail shaker set", "C", "Same-Occasion"),
        ("air fryer", "N"),
        ("food dehydrator", "N"),
        ("12v ice maker for truck", "V"),
        ("ice maker with water line hookup", "V"),
        ("battery powered ice maker", "V"),
    ],
    "B000H3I2JG": [
        ("black eyeliner pencil", "R"),
        ("waterproof eyeliner", "R"),
        ("long lasting eyeliner", "R"),
        ("eyeliner pencil with sharpener", "R"),
        ("retractable eyeliner", "R"),
        ("smudge proof eyeliner", "R"),
        ("revlon colorstay eyeliner", "R"),
        ("brown eyeliner pencil", "R"),
        ("liquid eyeliner", "S"),
        ("mascara", "C", "Same-Occasion"),
        ("eyeshadow palette", "C", "Same-Occasion"),
        ("makeup remover wipes", "C", "Workflow"),
        ("eye primer", "C", "Workflow"),
        ("cosmetic pencil sharpener", "C", "Maintenance"),
        ("nail polish", "N"),
        ("hair straightener", "N"),
    ],
    "B08J8GZXKZ": [
        ("silicone oven mitts", "R"),
        ("oven mitts", "R"),
        ("kitchenaid oven mitts", "R"),
        ("oven mitt 300 degree", "R"),
        ("quilted oven mitts set of 2", "R"),
        ("heat resistant oven mitts 500 degrees", "R"),
        ("heat resistant kitchen mitts", "R"),
        ("pot holders", "S"),
        ("bbq gloves", "S"),
        ("trivet for hot pots", "C", "Workflow"),
        ("baking sheet pan", "C", "Workflow"),
        ("cast iron skillet", "C", "Workflow"),
        ("kitchen apron", "C", "Same-Occasion"),
        ("meat thermometer", "C", "Workflow"),
        ("dish drying rack", "N"),
        ("kitchen trash can", "N"),
        ("cloth oven mitt not heat resistant", "V"),
        ("oven mitt 800 degrees", "V"),
        ("oven mitts for 900 degree pizza oven", "V"),
    ],
    "B09LCKZBTW": [
        ("bamboo serving tray with handles", "R"),
        ("wooden serving tray", "R"),
        ("breakfast tray", "R"),
        ("serving tray for coffee table", "R"),
        ("large serving tray for party", "R"),
        ("serving tray with handles", "R"),
        ("rectangular serving tray", "R"),
        ("bamboo bathtub tray", "SN"),
        ("serving platter", "S"),
        ("charcuterie board", "S"),
        ("cheese knife set", "C", "Same-Occasion"),
        ("wine glasses", "C", "Same-Occasion"),
        ("coffee mugs set", "C", "Same-Occasion"),
        ("bamboo coasters", "C", "Same-Occasion"),
        ("small dip bowls", "C", "Same-Occasion"),
        ("bath towels", "N"),
    ],
    "B077YYP739": [
        ("optimus prime toy", "R"),
        ("transformers action figures", "R"),
        ("optimus prime transformer", "R"),
        ("robot toys that transform", "R"),
        ("transformers toys for boys", "R"),
        ("bumblebee transformer toy", "R"),
        ("transformers cyber commander", "R"),
        ("action figures for kids 6+", "R"),
        ("transforming rc robot car", "S"),
        ("action figure display case", "C", "Display"),
        ("acrylic display stand for figures", "C", "Display"),
        ("toy storage bin", "C", "Storage"),
        ("kids play mat city roads", "C", "Same-Occasion"),
        ("action figure accessories weapons pack", "C", "Accessory"),
        ("barbie dreamhouse", "N"),
        ("kids tablet", "N"),
    ],
    "B0C9SPJ9ZQ": [
        ("enfit syringe 60ml", "R"),
        ("enteral feeding syringe", "R"),
        ("g tube syringe", "R"),
        ("enfit syringes 60 ml 30 pack", "R"),
        ("feeding tube syringe enfit", "R"),
        ("enfit medication syringe", "R"),
        ("rx crush syringes", "R"),
        ("syringe for printer ink refill", "SN"),
        ("enteral feeding bag gravity", "S"),
        ("pill crusher", "C", "Workflow"),
        ("enfit extension set", "C", "Accessory"),
        ("medicine cups disposable", "C", "Workflow"),
        ("enfit transition connector", "C", "Accessory"),
        ("g tube pads", "C", "Same-Occasion"),
        ("blood pressure monitor", "N"),
        ("nebulizer machine", "N"),
        ("luer lock syringe 60ml", "V"),
        ("syringe with needle", "V"),
    ],
    "B0CVQJY9C6": [
        ("pill crusher", "R"),
        ("pill crusher grinder fine powder", "R"),
        ("tablet crusher", "R"),
        ("pill pulverizer", "R"),
        ("pill crusher for elderly", "R"),
        ("medicine crusher", "R"),
        ("ezy dose pill crusher", "R"),
        ("mortar and pestle", "S"),
        ("pill crusher pouches", "C", "Accessory"),
        ("medicine cups", "C", "Workflow"),
        ("applesauce cups", "C", "Workflow"),
        ("weekly pill organizer", "C", "Organization"),
        ("enfit syringe 60ml", "C", "Workflow"),
        ("water thickener for dysphagia", "C", "Workflow"),
        ("heating pad", "N"),
        ("reading glasses", "N"),
    ],
}

# ---------------------------------------------------------------------------------------
# Synthetic family sd01 (batch "synthetic" mode): new keywords, same products, same rules
# ---------------------------------------------------------------------------------------

SD01_BRAND_KEYWORDS = {
    "B0BQPGJ9LQ": [("jbl vibe beam 2 earbuds", "OB"), ("bose earbuds", "CB"), ("earbuds for working out", "NB")],
    "B0BZYCJK89": [("owala freesip 32 oz", "OB"), ("stanley cup 40 oz", "CB"), ("water bottle with time markings", "NB")],
    "B0CJ4WZXQF": [("cisily sponge holder", "OB"), ("sink caddy with brush holder", "NB")],
    "B0D6YNWLTS": [("pioneer camp mens jacket", "OB"), ("32 degrees puffer jacket", "CB")],
    "B0DSHWLXG6": [("jikaso car mount", "OB"), ("belkin magnetic mount", "CB")],
    "B0F42MT8JX": [("antarctica star ice maker", "OB"), ("newair ice maker", "CB")],
    "B000H3I2JG": [("revlon eyeliner brown", "OB"), ("nyx eyeliner", "CB")],
    "B08J8GZXKZ": [("kitchenaid silicone mitt", "OB")],
    "B09LCKZBTW": [("webacoo", "OB")],
    "B077YYP739": [("transformers bumblebee", "OB")],
    "B0C9SPJ9ZQ": [("b0c9spj9zq", "ASIN")],
}

SD01_RELEVANCE_KEYWORDS = {
    "B08J8GZXKZ": [
        ("oven mitts 600 degrees", "V"),
        ("silicone pot holder set", "S"),
        ("oven mitts extra long", "R"),
        ("roasting pan", "C", "Workflow"),
    ],
    "B0D6YNWLTS": [("puffer jacket men 2xl", "V"), ("mens packable puffer coat", "R")],
    "B0DSHWLXG6": [("dashboard phone holder magnetic", "R")],
    "B0F42MT8JX": [
        ("ice maker for rv 12 volt", "V"),
        ("nugget ice maker countertop", "R"),
        ("ice bags for freezer", "C", "Storage"),
    ],
    "B0BZYCJK89": [("water bottle 32 oz with straw", "R"), ("water bottle stickers", "C", "Accessory")],
    "B0BQPGJ9LQ": [("wireless earbuds for gym", "R")],
    "B0CJ4WZXQF": [("sponge caddy for sink", "R"), ("garbage disposal", "N")],
    "B000H3I2JG": [("gel eyeliner pencil", "R"), ("lip gloss", "N")],
    "B077YYP739": [("megatron toy", "R")],
    "B0C9SPJ9ZQ": [("catheter tip syringe 60ml", "V")],
    "B0CVQJY9C6": [("electric pill crusher", "R")],
}

# ---------------------------------------------------------------------------------------
# Module files (paths must match modules.toml)
# ---------------------------------------------------------------------------------------

SLUGS = {
    "m01": "extract_own_brand_entities",
    "m01a": "extract_own_brand_variations",
    "m01b": "extract_brand_related_terms",
    "m03": "generate_competitor_entities",
    "m02": "classify_own_brand_keywords",
    "m02b": "classify_own_brand_keywords",
    "m04": "classify_competitor_brand_keywords",
    "m04b": "classify_competitor_brand_keywords",
    "m05": "classify_nonbranded_keywords",
    "m05b": "classify_nonbranded_keywords",
    "m06": "generate_product_type_taxonomy",
    "m07": "extract_product_attributes",
    "m08": "assign_attribute_ranks",
    "m09": "identify_primary_intended_use",
    "m10": "validate_primary_intended_use",
    "m11": "identify_hard_constraints",
    "m12": "check_hard_constraint",
    "m12b": "combined_classification",
    "m13": "check_product_type",
    "m14": "check_primary_use_same_type",
    "m15": "check_substitute",
    "m16": "check_complementary",
}

# ---------------------------------------------------------------------------------------
# Derived product fields
# ---------------------------------------------------------------------------------------


def bullet_text(p):
    return "\n".join(p["bullets"])


def taxonomy(p):
    return [{"level": i + 1, "product_type": name, "rank": i + 1} for i, name in enumerate(p["taxonomy"])]


def attribute_table(p):
    table = []
    for kind, key in (("Variant", "variants"), ("Use Case", "use_cases"), ("Audience", "audiences")):
        for i, value in enumerate(p[key]):
            table.append({"attribute_type": kind, "attribute_value": value, "rank": i + 1})
    return table


ATTRIBUTE_FIELDS = [
    "color", "size", "material", "style", "target_audience", "specific_uses", "model",
    "item_form", "number_of_items", "included_components", "product_type", "category_root",
    "category_sub",
]


def product_attributes(p):
    return {k: p[k] for k in ATTRIBUTE_FIELDS}


def listing(p):
    return {"title": p["title"], "bullet_points": bullet_text(p), "description": p["description"]}


def related_terms(p):
    terms = list(p["sub_brands"])
    if p["manufacturer_term"]:
        terms.append(p["manufacturer_term"])
    return ", ".join(terms)


def competitor_objects(p):
    return [{"name": n, "variations": v, "related_terms": r} for n, v, r in p["competitors"]]


def product_meta(module, p):
    return {
        "module_id": module,
        "asin": p["asin"],
        "brand_name": p["brand_name"],
        "product_type": p["product_type"],
        "split": "eval",
        "version": VERSION,
        "source": "synthetic",
    }


def keyword_meta(module, p, keyword):
    meta = product_meta(module, p)
    return {
        "module_id": meta["module_id"],
        "asin": meta["asin"],
        "brand_name": meta["brand_name"],
        "keyword": keyword,
        "product_type": meta["product_type"],
        "split": "eval",
        "version": VERSION,
        "source": "synthetic",
    }


def record_id(module, asin, keyword=None, prefix=""):
    head = module.upper() + prefix
    return f"{head}_{asin}" if keyword is None else f"{head}_{asin}__{keyword}"


# ---------------------------------------------------------------------------------------
# Product-level modules
# ---------------------------------------------------------------------------------------


def product_input(module, p, rng):
    lst = listing(p)
    if module in ("m01", "m01b"):
        return {"brand_name": p["brand_name"], **lst, "manufacturer": p["manufacturer"]}
    if module == "m01a":
        return {"brand_name": p["brand_name"]}
    if module == "m03":
        return {
            "brand_name": p["brand_name"], **lst,
            "product_type": p["product_type"], "category_root": p["category_root"],
            "category_sub": p["category_sub"], "known_competitor_brands": list(p["known_competitors"]),
        }
    if module == "m06":
        return {**lst, "product_type": p["product_type"], "category_root": p["category_root"], "category_sub": p["category_sub"]}
    if module == "m07":
        return {
            **lst, "product_type": p["product_type"], "category_root": p["category_root"],
            "category_sub": p["category_sub"], "color": p["color"], "size": p["size"],
            "material": p["material"], "style": p["style"], "target_audience": p["target_audience"],
            "specific_uses": p["specific_uses"], "model": p["model"], "item_form": p["item_form"],
            "number_of_items": p["number_of_items"], "included_components": p["included_components"],
        }
    if module == "m08":
        # M08 must rank the values itself, so it receives them in a shuffled order.
        shuffled = {}
        for key in ("variants", "use_cases", "audiences"):
            values = list(p[key])
            rng.shuffle(values)
            shuffled[key] = values
        return {**lst, "taxonomy": taxonomy(p), **shuffled}
    base = {**lst, "taxonomy": taxonomy(p), "attribute_table": attribute_table(p), "product_attributes": product_attributes(p)}
    if module == "m09":
        return base
    if module == "m10":
        flawed = p["m10_input"][0] if p["m10_input"] else p["primary_use"]
        return {**base, "primary_use": flawed}
    if module == "m11":
        return {**lst, "validated_use": p["primary_use"], "taxonomy": taxonomy(p),
                "attribute_table": attribute_table(p), "product_attributes": product_attributes(p)}
    raise ValueError(module)


def product_expected(module, p):
    if module == "m01":
        return {"brand_entities": list(p["brand_entities"])}
    if module == "m01a":
        return {"variations": list(p["variations"])}
    if module == "m01b":
        return {"sub_brands": list(p["sub_brands"]), "searchable_standards": list(p["searchable_standards"]),
                "manufacturer": p["manufacturer_term"]}
    if module == "m03":
        return {"competitor_entities": [c[0] for c in p["competitors"]]}
    if module == "m06":
        return {"taxonomy": taxonomy(p)}
    if module == "m07":
        return {"variants": list(p["variants"]), "use_cases": list(p["use_cases"]), "audiences": list(p["audiences"])}
    if module == "m08":
        return {"attribute_table": attribute_table(p)}
    if module == "m09":
        return {"primary_use": p["primary_use"]}
    if module == "m10":
        return {"validated_use": p["primary_use"], "action": "corrected" if p["m10_input"] else "pass_through"}
    if module == "m11":
        return {"hard_constraints": list(p["hard_constraints"])}
    raise ValueError(module)


PRODUCT_MODULES = ["m01", "m01a", "m01b", "m03", "m06", "m07", "m08", "m09", "m10", "m11"]

# ---------------------------------------------------------------------------------------
# Brand-scope modules
# ---------------------------------------------------------------------------------------

BRAND_MODULES = ["m02", "m02b", "m04", "m04b", "m05", "m05b"]


def brand_input(module, p, keyword):
    if module == "m02":
        return {"keyword": keyword, "brand_entities": list(p["brand_entities"])}
    if module == "m02b":
        return {"keyword": keyword, "variations_own": ", ".join(p["variations"]), "related_terms_own": related_terms(p)}
    if module == "m04":
        return {"keyword": keyword, "competitor_entities": list(p["competitor_entities"]), "own_brand": p["brand_name"]}
    if module == "m04b":
        return {"keyword": keyword, "competitors": competitor_objects(p), "own_brand": p["brand_name"]}
    if module == "m05":
        return {"keyword": keyword, "brand_entities": list(p["brand_entities"]), "competitor_entities": list(p["competitor_entities"])}
    if module == "m05b":
        own = {"name": p["brand_name"], "variations": ", ".join(p["variations"]), "related_terms": related_terms(p)}
        return {"keyword": keyword, "own_brand": own, "competitors": competitor_objects(p)}
    raise ValueError(module)


def brand_expected(module, tag):
    if module in ("m02", "m02b"):
        return {"branding_scope_1": "OB" if tag == "OB" else None}
    if module in ("m04", "m04b"):
        return {"branding_scope_2": "CB" if tag == "CB" else None}
    if module in ("m05", "m05b"):
        return {"branding_scope_3": "NB" if tag in ("NB", "ASIN", "PPC", "NUM") else None}
    raise ValueError(module)


# ---------------------------------------------------------------------------------------
# Relevance modules
# ---------------------------------------------------------------------------------------

RELEVANCE_MODULES = ["m12", "m12b", "m13", "m14", "m15", "m16"]

# Which path tags each module holds, and its expected answer for each tag.
RELEVANCE_RULES = {
    "m12": {"V": {"relevancy": "N"}, "R": {"relevancy": None}, "SN": {"relevancy": None},
            "S": {"relevancy": None}, "C": {"relevancy": None}, "N": {"relevancy": None}},
    "m12b": {"V": {"relevancy": "N"}, "R": {"relevancy": "R"}, "SN": {"relevancy": "N"},
             "S": {"relevancy": "S"}, "C": {"relevancy": "C"}, "N": {"relevancy": "N"}},
    "m13": {"R": {"same_type": True}, "SN": {"same_type": True},
            "S": {"same_type": False}, "C": {"same_type": False}, "N": {"same_type": False}},
    "m14": {"R": {"relevancy": "R"}, "SN": {"relevancy": "N"}},
    "m15": {"S": {"relevancy": "S"}, "C": {"relevancy": None}, "N": {"relevancy": None}},
    "m16": {"C": {"relevancy": "C"}, "N": {"relevancy": "N"}},
}


def relevance_input(module, p, keyword):
    base = {"keyword": keyword, **listing(p), "validated_use": p["primary_use"],
            "taxonomy": taxonomy(p), "attribute_table": attribute_table(p)}
    if module == "m12":
        return {**base, "product_attributes": product_attributes(p), "hard_constraints": list(p["hard_constraints"])}
    if module == "m12b":
        return {**base, "hard_constraints": list(p["hard_constraints"])}
    return base


# ---------------------------------------------------------------------------------------
# Building and writing
# ---------------------------------------------------------------------------------------

BY_ASIN = {p["asin"]: p for p in PRODUCTS}


def build_product_module(module, rng):
    records = []
    for p in PRODUCTS:
        records.append({
            "id": record_id(module, p["asin"]),
            "input": product_input(module, p, rng),
            "expected": product_expected(module, p),
            "metadata": product_meta(module, p),
        })
    return records


def build_brand_module(module, keywords, prefix="", sd=None):
    records = []
    for asin, entries in keywords.items():
        p = BY_ASIN[asin]
        for keyword, tag in entries:
            meta = keyword_meta(module, p, keyword)
            if sd:
                meta["sd_dataset"] = sd
            records.append({
                "id": record_id(module, asin, keyword, prefix),
                "input": brand_input(module, p, keyword),
                "expected": brand_expected(module, tag),
                "metadata": meta,
            })
    return records


def build_relevance_module(module, keywords, prefix="", sd=None):
    rules = RELEVANCE_RULES[module]
    records = []
    for asin, entries in keywords.items():
        p = BY_ASIN[asin]
        for entry in entries:
            keyword, tag = entry[0], entry[1]
            if tag not in rules:
                continue
            meta = keyword_meta(module, p, keyword)
            if sd:
                meta["sd_dataset"] = sd
            records.append({
                "id": record_id(module, asin, keyword, prefix),
                "input": relevance_input(module, p, keyword),
                "expected": dict(rules[tag]),
                "metadata": meta,
            })
    return records


def write_jsonl(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check_catalogue():
    """Fail early on typos in the tags or duplicate keywords."""
    for asin, entries in BRAND_KEYWORDS.items():
        assert asin in BY_ASIN, asin
        seen = [k for k, _ in entries]
        assert len(seen) == len(set(seen)), f"duplicate brand keyword for {asin}"
        for _, tag in entries:
            assert tag in ("OB", "CB", "OTHER", "NB", "ASIN", "PPC", "NUM"), tag
    for table in (RELEVANCE_KEYWORDS, SD01_RELEVANCE_KEYWORDS):
        for asin, entries in table.items():
            assert asin in BY_ASIN, asin
            seen = [e[0] for e in entries]
            assert len(seen) == len(set(seen)), f"duplicate relevance keyword for {asin}"
            for e in entries:
                assert e[1] in ("V", "R", "SN", "S", "C", "N"), e
                if e[1] == "V":
                    assert BY_ASIN[asin]["hard_constraints"], f"violation on a product without constraints: {e}"
    for asin, entries in SD01_RELEVANCE_KEYWORDS.items():
        golden = {e[0] for e in RELEVANCE_KEYWORDS[asin]}
        assert not golden & {e[0] for e in entries}, f"sd01 keyword repeats a golden one for {asin}"
    for asin, entries in SD01_BRAND_KEYWORDS.items():
        golden = {k for k, _ in BRAND_KEYWORDS[asin]}
        assert not golden & {k for k, _ in entries}, f"sd01 keyword repeats a golden one for {asin}"


def main():
    check_catalogue()
    rng = random.Random(SEED)
    written = {}

    def emit(path, records, shuffle):
        if shuffle:
            rng.shuffle(records)
        write_jsonl(ROOT / path, records)
        written[path] = len(records)

    for module in PRODUCT_MODULES:
        emit(f"datasets/single/{module}_v1_{SLUGS[module]}.jsonl", build_product_module(module, rng), False)
    for module in BRAND_MODULES:
        emit(f"datasets/single/{module}_v1_{SLUGS[module]}.jsonl", build_brand_module(module, BRAND_KEYWORDS), True)
    for module in RELEVANCE_MODULES:
        emit(f"datasets/single/{module}_v1_{SLUGS[module]}.jsonl", build_relevance_module(module, RELEVANCE_KEYWORDS), True)

    emit(f"datasets/synthetic/m02_sd01_{SLUGS['m02']}.jsonl",
         build_brand_module("m02", SD01_BRAND_KEYWORDS, prefix="_SD01", sd="sd01"), True)
    for module in ("m12", "m12b"):
        emit(f"datasets/synthetic/{module}_sd01_{SLUGS[module]}.jsonl",
             build_relevance_module(module, SD01_RELEVANCE_KEYWORDS, prefix="_SD01", sd="sd01"), True)

    for path, n in written.items():
        print(f"{n:4d}  {path}")


if __name__ == "__main__":
    main()
